/**
 * Guests' page cache across replicas: two API instances (A and B) share one real PostgreSQL and one real Redis, as
 * three replicas do in the stack. Each serves the production handler (cached-page fast path, then Express).
 * ANON_CACHE_MS is 60 s here, so a fresh page after a write proves the invalidation, never the expiry.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { buildRuntime, type Runtime } from '../src/app.js';
import { bootstrap } from '../src/bootstrap.js';
import { PageCache, SETTLE_MS } from '../src/cache.js';
import { Client, configFor, startStack, waitFor, type Stack } from './support/env.js';

interface Replica {
  url: string;
  rt: Runtime;
  logLines: string[];
  close(): Promise<void>;
}

/** One API replica in this process, serving `rt.handler` exactly as main.ts does; its pino lines are collected. */
async function startReplica(env: Record<string, string>): Promise<Replica> {
  const cfg = configFor(env);
  const logLines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  const rt = buildRuntime(cfg, logger);
  await bootstrap(cfg, rt.db, logger);
  const server: Server = await new Promise((resolve) => {
    const s = createServer(rt.handler).listen(0, '127.0.0.1', () => resolve(s));
  });
  // caching starts once the invalidation channel is subscribed
  await waitFor('cache subscribed', () => rt.ctx.cache.enabled, 10_000);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    rt,
    logLines,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rt.close();
    },
  };
}

let stack: Stack;
let A: Replica;
let B: Replica;
let sql: pg.Client;
let seq = 0;

before(async () => {
  stack = await startStack();
  const env = { ...stack.env, ANON_CACHE_MS: '60000', FLOOD_INTERVAL_MS: '0' };
  A = await startReplica(env);
  B = await startReplica(env);
  sql = new pg.Client({ host: '127.0.0.1', port: stack.pg.port, user: 'forum', password: stack.env.PGPASSWORD, database: 'forum' });
  await sql.connect();
});
after(async () => {
  await sql?.end();
  await A?.close();
  await B?.close();
  await stack?.stop();
});

async function user(on: Replica, prefix: string) {
  const c = new Client(on.url);
  const u = await c.register(`${prefix}${++seq}`);
  return { c, u };
}
/** A guest as a browser is after its first visit: a csrftoken cookie, no session (what the fast path serves). */
async function guest(on: Replica) {
  const g = new Client(on.url);
  await g.get('/api/auth/');
  assert.ok(g.csrf);
  return g;
}
async function thread(c: Client, title = `Cached thread ${++seq}`) {
  const r = await c.post('/api/threads/', { title, post: 'The first post of this thread.', category: 3 });
  assert.equal(r.status, 200, r.text);
  return r.body as { id: number };
}
/** forum_page_cache_lookups_total of a replica, as /metrics shows it */
async function cacheLookups(r: Replica) {
  const text = await r.rt.metrics.registry.metrics();
  const read = (result: string) =>
    Number(new RegExp(`^forum_page_cache_lookups_total\\{[^}]*result="${result}"[^}]*\\} ([0-9]+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { hit: read('hit'), miss: read('miss') };
}
/** Changes a post BEHIND the API's back (no invalidation): a page still showing the old text came from the cache. */
const sneak = (postId: number, html: string) => sql.query('UPDATE posts SET parsed = $2 WHERE id = $1', [postId, html]);
const firstPostId = async (threadId: number) =>
  (await sql.query('SELECT first_post_id FROM threads WHERE id = $1', [threadId])).rows[0].first_post_id as number;

describe("Guests' page cache across two replicas sharing Redis", () => {
  test('When a reply goes through replica A, then the thread page replica B had cached for guests is dropped', async () => {
    const { c } = await user(A, 'writer');
    const t = await thread(c);
    const g = await guest(B);
    const path = `/api/threads/${t.id}/posts/`;
    const first = await g.get(path);
    assert.equal(first.status, 200);
    assert.equal(first.body.post_set.count, 1);

    // B serves the page from its cache now (no statement, old text after a change behind the API's back)
    const pid = await firstPostId(t.id);
    await sneak(pid, '<p>changed behind the cache</p>');
    const queries = B.rt.db.stats.queries;
    const cachedPage = await g.get(path);
    assert.equal(B.rt.db.stats.queries, queries, 'a cached page runs no statement');
    assert.equal(cachedPage.body.post_set.results[0].content, first.body.post_set.results[0].content);
    assert.equal(cachedPage.text, first.text, 'byte for byte the cached body');

    // a reply through A: B drops the page when the invalidation arrives (milliseconds, not ANON_CACHE_MS)
    const r = await c.post(path, { post: 'A reply through replica A.' });
    assert.equal(r.status, 200, r.text);
    const started = Date.now();
    const fresh = await waitFor(
      'fresh page on B',
      async () => {
        const p = await g.get(path);
        return p.body.post_set.count === 2 ? p : undefined;
      },
      5000,
      10,
    );
    assert.ok(Date.now() - started < 2000, `B served the stale page for ${Date.now() - started} ms`);
    assert.equal(fresh.body.replies, 1);
    assert.equal(fresh.body.post_set.results[1].id, r.body.id);
    assert.equal(fresh.body.post_set.results[0].content, '<p>changed behind the cache</p>', 'rebuilt from the database');
  });

  test('When the writer reads on the other replica, then their own reply is there at once (signed-in reads are never cached)', async () => {
    const { c, u } = await user(A, 'ryw');
    const t = await thread(c);
    const g = await guest(B);
    await g.get(`/api/threads/${t.id}/posts/`); // B caches the guest page
    const onB = new Client(B.url);
    await onB.login(u.username, 'password-123');
    const r = await c.post(`/api/threads/${t.id}/posts/`, { post: 'My own reply, read back at once.' });
    assert.equal(r.status, 200);
    // no polling: the very next read through B shows it
    const page = await onB.get(`/api/threads/${t.id}/posts/`);
    assert.deepEqual(page.body.post_set.results.map((p: { id: number }) => p.id).slice(-1), [r.body.id]);
    assert.equal((await onB.get(`/api/threads/${t.id}/`)).body.replies, 1);
  });

  test('When a post is edited, a title changed or a thread deleted through the other replica, then no stale page is served', async () => {
    const { c } = await user(A, 'editor');
    const t = await thread(c, 'Title before the edit');
    const r = await c.post(`/api/threads/${t.id}/posts/`, { post: 'Text before the edit.' });
    const g = await guest(B);
    const posts = `/api/threads/${t.id}/posts/`;
    const obj = `/api/threads/${t.id}/`;
    assert.equal((await g.get(posts)).body.post_set.results[1].content, '<p>Text before the edit.</p>');
    assert.equal((await g.get(obj)).body.title, 'Title before the edit');
    assert.ok((await g.get('/api/threads/')).body.results.some((x: { id: number }) => x.id === t.id));

    // edit a post
    assert.equal((await c.put(`/api/threads/${t.id}/posts/${r.body.id}/`, { post: 'Text after the edit.' })).status, 200);
    const edited = await waitFor(
      'edited post on B',
      async () => {
        const p = await g.get(posts);
        return p.body.post_set.results[1].content === '<p>Text after the edit.</p>' ? p : undefined;
      },
      2000,
      10,
    );
    assert.equal(edited.body.post_set.results[1].edits, 1);

    // change the title: the thread object, the page and the list
    assert.equal((await c.patch(obj, [{ op: 'replace', path: 'title', value: 'Title after the edit' }])).status, 200);
    await waitFor('new title on B', async () => (await g.get(obj)).body.title === 'Title after the edit', 2000, 10);
    assert.equal((await g.get(posts)).body.title, 'Title after the edit');
    const listed = (await g.get('/api/threads/')).body.results.find((x: { id: number }) => x.id === t.id);
    assert.equal(listed.title, 'Title after the edit');

    // delete (staff): gone from B at once, 404 for the page and the object, absent from the list
    const adm = new Client(A.url);
    await adm.login('admin', 'admin-password-1');
    assert.equal((await adm.del(obj)).status, 200);
    await waitFor('deleted on B', async () => (await g.get(posts)).status === 404, 2000, 10);
    assert.equal((await g.get(obj)).status, 404);
    assert.ok(!(await g.get('/api/threads/')).body.results.some((x: { id: number }) => x.id === t.id));
  });

  test("When a thread is hidden through A, then B's guests lose it at once", async () => {
    const { c } = await user(A, 'hider');
    const t = await thread(c);
    const g = await guest(B);
    assert.equal((await g.get(`/api/threads/${t.id}/posts/`)).status, 200);
    const adm = new Client(A.url);
    await adm.login('admin', 'admin-password-1');
    assert.equal((await adm.patch(`/api/threads/${t.id}/`, [{ op: 'replace', path: 'is-hidden', value: true }])).status, 200);
    await waitFor('hidden on B', async () => (await g.get(`/api/threads/${t.id}/posts/`)).status === 404, 2000, 10);
  });
});

describe('Per-user fields with a cached guest page', () => {
  test('When a guest page is cached, then guests get the shared page and signed-in readers their own read state, subscription and permissions', async () => {
    const starter = await user(A, 'starter');
    const t = await thread(starter.c);
    const reply = await starter.c.post(`/api/threads/${t.id}/posts/`, { post: 'The starter replies to himself.' });
    assert.equal(reply.status, 200);
    const path = `/api/threads/${t.id}/posts/`;

    // a guest fills B's cache: guest fields
    const g = await guest(B);
    const gp = (await g.get(path)).body;
    assert.equal(gp.is_read, true, 'Misago: everything is read for guests');
    assert.equal(gp.is_new, false);
    assert.equal(gp.subscription, null);
    assert.equal(gp.acl.can_reply, false);
    assert.equal(gp.acl.can_edit, false);
    assert.equal(gp.acl.can_subscribe, false);
    for (const p of gp.post_set.results) {
      assert.equal(p.is_read, true);
      assert.equal(p.acl.can_edit, false);
      assert.equal(p.acl.can_reply, false);
    }

    // another user, subscribed, never read the thread: their own fields, not the cached guest page
    const reader = await user(B, 'reader');
    assert.equal((await reader.c.patch(`/api/threads/${t.id}/`, [{ op: 'replace', path: 'subscription', value: 'email' }])).status, 200);
    const rp = (await reader.c.get(path)).body;
    assert.equal(rp.is_read, false);
    assert.equal(rp.is_new, true);
    assert.equal(rp.subscription, true);
    assert.equal(rp.acl.can_reply, true);
    assert.equal(rp.acl.can_edit, false);
    assert.deepEqual(
      rp.post_set.results.map((p: { is_new: boolean }) => p.is_new),
      [true, true],
    );
    assert.deepEqual(
      rp.post_set.results.map((p: { acl: { can_edit: boolean } }) => p.acl.can_edit),
      [false, false],
    );
    // reading moved their marker: the next read says read
    const again = (await reader.c.get(path)).body;
    assert.equal(again.is_read, true);
    assert.deepEqual(
      again.post_set.results.map((p: { is_read: boolean }) => p.is_read),
      [true, true],
    );

    // the starter on B: may edit his posts
    const onB = new Client(B.url);
    await onB.login(starter.u.username, 'password-123');
    const sp = (await onB.get(path)).body;
    assert.equal(sp.acl.can_edit, true);
    assert.deepEqual(
      sp.post_set.results.map((p: { acl: { can_edit: boolean } }) => p.acl.can_edit),
      [true, true],
    );
    assert.equal(sp.subscription, null);

    // guests still get the guest page, byte for byte; a first-time guest (no cookie: Express) the same body plus a CSRF cookie
    assert.deepEqual((await g.get(path)).body, gp);
    const fresh = new Client(B.url);
    const fp = await fresh.get(path);
    assert.deepEqual(fp.body, gp);
    assert.match(fresh.csrf ?? '', /^[a-f0-9]{48}$/);
    // a signed-in reader's page was never cached: a guest on A (which no signed-in read has touched) sees the same
    assert.deepEqual((await (await guest(A)).get(path)).body, gp);
  });

  test('When a session cookie is stale or forged, then the reader is a guest (through Express) and gets the guest page', async () => {
    const { c } = await user(A, 'forged');
    const t = await thread(c);
    const g = await guest(B);
    const gp = (await g.get(`/api/threads/${t.id}/posts/`)).body;
    const forged = new Client(B.url);
    forged.cookies.set('csrftoken', g.csrf!);
    forged.cookies.set('sessionid', 'nope.nope');
    assert.deepEqual((await forged.get(`/api/threads/${t.id}/posts/`)).body, gp);
  });
});

describe('The cached-page fast path', () => {
  test('When the fast path answers, then it answers as the Express route does: one access line per request, X-Request-Id, JSON headers, the route histogram', async () => {
    const { c } = await user(A, 'fast');
    const t = await thread(c);
    const g = await guest(B);
    const path = `/api/threads/${t.id}/posts/?page=1`;
    const lookups0 = await cacheLookups(B);
    const viaExpress = await g.get(path); // miss: Express builds and caches
    const lines = B.logLines.length;
    const queries = B.rt.db.stats.queries;
    const N = 5;
    for (let i = 0; i < N; i++) {
      const r = await g.get(path, { headers: { 'x-request-id': `fast-${t.id}-${i}`, 'user-agent': 'cache-test', 'x-forwarded-for': '198.51.100.77' } });
      assert.equal(r.status, 200);
      assert.equal(r.text, viaExpress.text);
      assert.equal(r.headers.get('content-type'), viaExpress.headers.get('content-type'));
      assert.equal(r.headers.get('x-request-id'), `fast-${t.id}-${i}`);
      assert.equal(r.headers.get('set-cookie'), null);
    }
    assert.equal(B.rt.db.stats.queries, queries, 'served from the cache');
    const access = B.logLines
      .slice(lines)
      .map((l) => JSON.parse(l))
      .filter((o) => o.type === 'access');
    assert.equal(access.length, N, 'one access line per request');
    for (const [i, o] of access.entries()) {
      assert.equal(o.requestId, `fast-${t.id}-${i}`);
      assert.equal(o.method, 'GET');
      assert.equal(o.url, path);
      assert.equal(o.status, 200);
      assert.equal(o.bytes, Buffer.byteLength(viaExpress.text));
      assert.equal(o.ip, '198.51.100.77', 'req.ip under the trust proxy setting (loopback is trusted)');
      assert.equal(o.user, null);
      assert.equal(o.userAgent, 'cache-test');
      assert.equal(typeof o.responseTimeMs, 'number');
      assert.equal(o.msg, 'request');
    }
    const lookups = await cacheLookups(B);
    assert.deepEqual({ hit: lookups.hit - lookups0.hit, miss: lookups.miss - lookups0.miss }, { hit: N, miss: 1 }, 'forum_page_cache_lookups_total');
    const metrics = await B.rt.metrics.registry.metrics();
    assert.match(metrics, /http_request_duration_seconds_count\{[^}]*route="\/api\/threads\/:id\/posts\/"[^}]*status="200"[^}]*\} ([0-9]+)/);
  });

  test('When the invalidation subscription of a replica drops, then it serves nothing cached until it has resubscribed', async () => {
    const { c } = await user(A, 'resub');
    const t = await thread(c);
    const g = await guest(B);
    const path = `/api/threads/${t.id}/posts/`;
    const before = (await g.get(path)).body.post_set.results[0].content;
    const pid = await firstPostId(t.id);
    await sneak(pid, '<p>changed while B was subscribed</p>');
    assert.equal((await g.get(path)).body.post_set.results[0].content, before, 'cached');

    // kill the subscriber connections (a Redis failover or a network cut does the same)
    const admin = new Redis({ host: '127.0.0.1', port: stack.redis.port, password: stack.redis.password });
    try {
      await admin.client('KILL', 'TYPE', 'pubsub');
      // the cache was emptied when the connection dropped: the change shows without any invalidation message
      await waitFor(
        'B drops its cache',
        async () => (await g.get(path)).body.post_set.results[0].content === '<p>changed while B was subscribed</p>',
        5000,
        10,
      );
      await waitFor('B resubscribed', async () => B.rt.ctx.cache.enabled && (await admin.pubsub('NUMSUB', 'forum:cache:invalidate'))[1] === 2, 10_000);
    } finally {
      admin.disconnect();
    }
    // and caches again afterwards (then invalidations work as before)
    await g.get(path);
    await sneak(pid, '<p>changed again</p>');
    assert.equal((await g.get(path)).body.post_set.results[0].content, '<p>changed while B was subscribed</p>');
    assert.equal((await c.post(path, { post: 'A reply after the resubscription.' })).status, 200);
    await waitFor('fresh after resubscription', async () => (await g.get(path)).body.post_set.count === 2, 2000, 10);
    assert.equal((await g.get(path)).body.post_set.results[0].content, '<p>changed again</p>');
  });
});

describe('PageCache rules', () => {
  const page = (s: string) => Buffer.from(s);
  const live = (ttl = 60_000) => {
    const cache = new PageCache(ttl);
    cache.setSubscribed(true);
    return cache;
  };

  test('When the invalidation channel is not subscribed, then nothing is cached', () => {
    const cache = new PageCache(60_000);
    cache.setThread(1, 'posts:1', page('x'), cache.ticket());
    assert.equal(cache.getThread(1, 'posts:1'), undefined);
    cache.setSubscribed(true);
    cache.setThread(1, 'posts:1', page('x'), cache.ticket());
    assert.equal(cache.getThread(1, 'posts:1')?.toString(), 'x');
    cache.setSubscribed(false);
    assert.equal(cache.getThread(1, 'posts:1'), undefined);
    cache.setSubscribed(true);
    assert.equal(cache.getThread(1, 'posts:1'), undefined, 'emptied when the subscription dropped');
  });

  test('When the build of a page overlapped an invalidation of its thread, then it is not stored; pages of other threads are', () => {
    const cache = live();
    const ticket = cache.ticket(); // the read begins (before the write commits)
    cache.invalidateThread(7); // the write's invalidation arrives while the read is in flight
    cache.setThread(7, 'posts:1', page('pre-write page'), ticket);
    assert.equal(cache.getThread(7, 'posts:1'), undefined);
    cache.setThread(8, 'posts:1', page('other thread'), ticket);
    assert.equal(cache.getThread(8, 'posts:1')?.toString(), 'other thread');
    // any thread change drops the lists too, and a list build overlapping it is not stored
    cache.setList('2|all|null', page('list'), cache.ticket());
    const listTicket = cache.ticket();
    cache.invalidateThread(9);
    assert.equal(cache.getList('2|all|null'), undefined);
    cache.setList('2|all|null', page('old list'), listTicket);
    assert.equal(cache.getList('2|all|null'), undefined);
    assert.equal(cache.getThread(8, 'posts:1')?.toString(), 'other thread', 'other threads keep their pages');
  });

  test('When a page is filled just after its thread changed, then it lives 1 s (a lagging standby); others live up to ANON_CACHE_MS', async () => {
    const cache = live(60_000);
    cache.invalidateThread(3);
    cache.setThread(3, 'posts:1', page('just after'), cache.ticket());
    cache.setThread(4, 'posts:1', page('quiet thread'), cache.ticket());
    assert.ok(SETTLE_MS >= 1000);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(cache.getThread(3, 'posts:1'), undefined);
    assert.equal(cache.getThread(4, 'posts:1')?.toString(), 'quiet thread');
  });

  test('When a page is in the last quarter of its life, then it is rebuilt ahead (once) while still being served', async () => {
    const cache = live(60_000);
    cache.invalidateThread(5); // settle window: this page lives exactly 1 s, refresh from 750 ms
    let refreshes = 0;
    cache.setThread(5, 'posts:1', page('v1'), cache.ticket(), () => void refreshes++);
    assert.equal(cache.getThread(5, 'posts:1')?.toString(), 'v1');
    await new Promise((r) => setImmediate(r));
    assert.equal(refreshes, 0, 'not yet');
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(cache.getThread(5, 'posts:1')?.toString(), 'v1', 'still served while the refresh runs');
    assert.equal(cache.getThread(5, 'posts:1')?.toString(), 'v1');
    await new Promise((r) => setImmediate(r));
    assert.equal(refreshes, 1, 'one refresh for many hits');
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(cache.getThread(5, 'posts:1'), undefined, 'never served past its expiry');
  });

  test('When pages exceed the byte budget, then the cache holds at most the budget, and invalidations give the bytes back', () => {
    const cache = new PageCache(60_000, 1000);
    cache.setSubscribed(true);
    for (let i = 1; i <= 12; i++) {
      cache.setThread(i, 'posts:1', Buffer.alloc(200, 97), cache.ticket());
      assert.ok(cache.sizeBytes <= 1000, `${cache.sizeBytes} bytes after ${i} pages`);
      assert.ok(cache.getThread(i, 'posts:1'), 'the page just stored is there');
    }
    const before = cache.sizeBytes;
    cache.setThread(12, 'posts:1', Buffer.alloc(100, 97), cache.ticket()); // a replaced page counts once
    assert.equal(cache.sizeBytes, before - 100);
    cache.invalidateThread(12);
    assert.equal(cache.sizeBytes, before - 200);
    cache.setList('x', Buffer.alloc(50, 97), cache.ticket());
    cache.invalidateThread(0);
    assert.equal(cache.sizeBytes, before - 200);
  });

  test('When ANON_CACHE_MS=0, then nothing is cached', () => {
    const cache = new PageCache(0);
    cache.setSubscribed(true);
    assert.equal(cache.enabled, false);
    cache.setThread(1, 'posts:1', page('x'), cache.ticket());
    assert.equal(cache.getThread(1, 'posts:1'), undefined);
  });
});
