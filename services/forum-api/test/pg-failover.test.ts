// While the PostgreSQL primary is unreachable, signed-in reads are answered by a standby (read directly,
// not through the primary's route), waiting for the reader's own last write; a standby that has not replayed it in
// PG_STANDBY_WAIT_MS answers with `X-Stale: 1`. Writes answer 503 + Retry-After. Real primary + streaming standby
// (pg_basebackup); "unreachable" = a TCP proxy in front of the primary that drops every connection.
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import assert from 'node:assert/strict';
import { Client, startApi, startRedis, waitFor, type InProcessApi, type RedisInstance } from './support/env.js';
import { startProxy, startReplicated, type CutProxy, type Replicated } from './support/standby.js';

const WAIT_MS = 500;
let repl: Replicated;
let redis: RedisInstance;
let route: CutProxy; // the api's PGHOST (Pgpool's place)
let direct: CutProxy; // the primary as a node of PG_NODES
let api: InProcessApi;

before(async () => {
  [repl, redis] = await Promise.all([startReplicated(), startRedis()]);
  route = await startProxy(repl.primary.port);
  direct = await startProxy(repl.primary.port);
  api = await startApi({
    PGHOST: '127.0.0.1',
    PGPORT: String(route.port),
    PGDATABASE: 'forum',
    PGUSER: 'forum',
    PGPASSWORD: 'forum-test-pw',
    PG_NODES: `127.0.0.1:${direct.port},127.0.0.1:${repl.standbyPort}`,
    PG_STANDBY_WAIT_MS: String(WAIT_MS),
    REDIS_URL: redis.url,
    REDIS_PASSWORD: redis.password,
    SESSION_SECRET: 'test-session-secret-0123456789',
    ADMIN_PASSWORD: 'admin-password-1',
    FLOOD_INTERVAL_MS: '0',
    LOG_LEVEL: 'silent',
  });
});
after(async () => {
  await api?.close();
  await Promise.allSettled([route?.close(), direct?.close()]);
  await Promise.allSettled([repl?.stop(), redis?.stop()]);
});

/** A new signed-in user and a thread of theirs. */
async function writerWithThread(username: string, title: string): Promise<{ c: Client; threadId: number }> {
  const c = new Client(api.url);
  await c.register(username);
  const t = await c.post('/api/threads/', { title, post: 'The first post of this thread.', category: 3 });
  assert.equal(t.status, 200, t.text);
  return { c, threadId: t.body.id };
}

const primaryAway = () => Promise.all([route.cut(), direct.cut()]);
const primaryBack = async () => {
  await Promise.all([route.restore(), direct.restore()]);
};

describe('When the PostgreSQL primary is unreachable', () => {
  let c: Client;
  let threadId = 0;

  before(async () => {
    c = new Client(api.url);
    await c.register('reader1');
    const t = await c.post('/api/threads/', { title: 'Read through a failover', post: 'The first post of this thread.', category: 3 });
    assert.equal(t.status, 200, t.text);
    threadId = t.body.id;
    // the standby must hold the schema and this thread before the primary goes away: on a loaded machine its replay
    // of the migrations once came later than the cut, and the standby answered "relation does not exist"
    const primary = new pg.Client({ host: repl.primary.dir, port: repl.primary.port, user: 'postgres', database: 'postgres' });
    await primary.connect();
    const { rows } = await primary.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l');
    await primary.end();
    const standby = repl.standbyAdmin();
    await standby.connect();
    try {
      await waitFor('the standby replayed the primary up to the thread', async () => {
        const r = await standby.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [rows[0].l]);
        return r.rows[0].ok === true;
      });
    } finally {
      await standby.end();
    }
  });

  test('then a signed-in reader gets their own latest write from the standby, not stale', async () => {
    const r = await c.post(`/api/threads/${threadId}/posts/`, { post: 'Written just before the primary went away.' });
    assert.equal(r.status, 200, r.text);
    assert.match(decodeURIComponent(c.cookies.get('wlsn') ?? ''), /^[0-9A-F]+\/[0-9A-F]+$/, 'the write LSN travels in a cookie');
    await primaryAway();
    const t0 = Date.now();
    const page = await c.get(`/api/threads/${threadId}/posts/`);
    assert.equal(page.status, 200, page.text);
    assert.equal(page.headers.get('x-stale'), null);
    assert.ok(
      page.body.post_set.results.some((p: { id: number }) => p.id === r.body.id),
      'own reply visible',
    );
    const list = await c.get('/api/threads/?list=my');
    assert.equal(list.status, 200, list.text);
    assert.equal((await c.get('/api/auth/')).body.username, 'reader1');
    assert.equal((await new Client(api.url).get('/api/threads/')).status, 200, 'guests too');
    process.stdout.write(`# signed-in page read from the standby in ${Date.now() - t0} ms (first after the cut)\n`);
  });

  // the api first tries again for NOTHING_DONE_RETRY_MS (30 s: no connection was made, nothing was sent)
  test('then writes answer 503 with Retry-After', async () => {
    const w = await c.post(`/api/threads/${threadId}/posts/`, { post: 'This cannot be written now.' });
    assert.equal(w.status, 503, w.text);
    assert.equal(w.headers.get('retry-after'), '2');
  });

  test("then a standby that has not replayed the reader's write answers after the wait with X-Stale: 1", async () => {
    await primaryBack();
    const admin = repl.standbyAdmin();
    await admin.connect();
    try {
      await admin.query('SELECT pg_wal_replay_pause()');
      const w = await waitFor(
        'the primary takes writes again',
        async () => {
          const r = await c.post(`/api/threads/${threadId}/posts/`, { post: 'Written while the standby is paused.' });
          return r.status === 200 ? r : undefined;
        },
        20_000,
        200,
      );
      await primaryAway();
      const t0 = Date.now();
      const page = await c.get(`/api/threads/${threadId}/posts/`);
      const ms = Date.now() - t0;
      assert.equal(page.status, 200, page.text);
      assert.equal(page.headers.get('x-stale'), '1');
      assert.ok(ms >= WAIT_MS, `waited ${ms} ms for the standby first`);
      assert.ok(!page.body.post_set.results.some((p: { id: number }) => p.id === w.body.id), 'the stale page lacks the write (hence the header)');
      // a guest has no write to wait for: not stale, no wait
      const g0 = Date.now();
      const guest = await new Client(api.url).get(`/api/threads/${threadId}/posts/`);
      assert.equal(guest.status, 200);
      assert.equal(guest.headers.get('x-stale'), null);
      process.stdout.write(`# stale read answered after ${ms} ms (wait ${WAIT_MS} ms); guest read ${Date.now() - g0} ms\n`);
      await admin.query('SELECT pg_wal_replay_resume()');
      const fresh = await c.get(`/api/threads/${threadId}/posts/`);
      assert.equal(fresh.status, 200);
      assert.equal(fresh.headers.get('x-stale'), null);
      assert.ok(
        fresh.body.post_set.results.some((p: { id: number }) => p.id === w.body.id),
        'caught up: the write is there',
      );
    } finally {
      await admin.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await admin.end();
    }
  });

  test('when the primary is back, then writes work again', async () => {
    await primaryBack();
    await waitFor(
      'write accepted',
      async () => (await c.post(`/api/threads/${threadId}/posts/`, { post: 'Back to normal again.' })).status === 200,
      20_000,
      200,
    );
    assert.ok(api.rt.db.direct.counts.ok + api.rt.db.direct.counts.stale > 0, 'reads went to the nodes directly');
  });
});

// Pgpool holds new sessions during its whole primary search (search_primary_node_timeout) and may not know a promoted
// node yet, while the nodes already have one primary: writes then go to it directly (DirectNodes.primary).
describe('When only the route (Pgpool) is cut off and the primary itself answers', () => {
  test('then writes reach the primary on the nodes directly, each written once', async () => {
    const { c, threadId } = await writerWithThread('writer2', 'Writes around a stuck Pgpool');
    await route.cut();
    const statuses: number[] = [];
    try {
      // the first write may meet the broken route (503, nothing written); the ones after it go to the primary directly
      for (let i = 0; i < 5; i++) statuses.push((await c.post(`/api/threads/${threadId}/posts/`, { post: `Direct write number ${i}.` })).status);
      assert.ok(
        statuses.slice(1).every((s) => s === 200),
        `writes after the first: ${JSON.stringify(statuses)}`,
      );
      assert.ok(
        statuses.every((s) => s === 200 || s === 503),
        JSON.stringify(statuses),
      );
    } finally {
      await route.restore();
    }
    const page = await c.get(`/api/threads/${threadId}/posts/`);
    assert.equal(page.status, 200, page.text);
    const written = page.body.post_set.results.filter((p: { content?: string; parsed?: string }) => /Direct write number/.test(JSON.stringify(p)));
    assert.equal(written.length, statuses.filter((s) => s === 200).length, 'every acknowledged write is there, once');
  });
});

// A Pgpool that accepts a session and never answers it (seen when a standby was killed: new sessions hung for the
// pool's whole 10 s connection timeout, then the write failed). A write waits WRITE_POOL_PATIENCE_MS for the route,
// then also looks for the primary on the nodes.
describe('When Pgpool accepts connections but answers none, and the primary answers', () => {
  test('then a write reaches the primary on the nodes and is written once, and a read is answered from the nodes', async () => {
    const { c, threadId } = await writerWithThread('writer4', 'Writes around a hung Pgpool');
    await route.stall();
    // the pool's idle sessions were dropped with the rest: the write must open a new one, which Pgpool never answers
    await waitFor('idle sessions through the stalled route closed', () => api.rt.db.rw.idleCount === 0);
    let status = 0;
    let read = { status: 0, ms: 0 };
    try {
      status = (await c.post(`/api/threads/${threadId}/posts/`, { post: 'Sent while Pgpool hung.' })).status;
      // a signed-in read meanwhile is answered from the nodes well before the pool's own 10 s connection timeout
      const t0 = Date.now();
      read = { status: (await c.get(`/api/threads/${threadId}/posts/`)).status, ms: Date.now() - t0 };
    } finally {
      await route.restore();
    }
    assert.equal(status, 200, 'the write is acknowledged, not 503 after the pool gave up');
    assert.equal(read.status, 200);
    assert.ok(read.ms < 8000, `the read waited ${read.ms} ms on the hung route (the pool gives up after 10 s)`);
    const page = await c.get(`/api/threads/${threadId}/posts/`);
    assert.equal(page.status, 200, page.text);
    const written = page.body.post_set.results.filter((p: unknown) => /Sent while Pgpool hung/.test(JSON.stringify(p)));
    assert.equal(written.length, 1, 'written once');
  });
});

// A stopping primary (images/postgres/entrypoint.sh, stop_member) first makes new transactions read-only and lets the
// open ones finish. A write refused so (25006) did nothing: the api sends it again until a primary takes it.
describe('When the primary refuses new writes as read-only for a moment (a primary handing over)', () => {
  test('then a post sent meanwhile is written once, when writes are accepted again', async () => {
    const { c, threadId } = await writerWithThread('writer3', 'Writes across a read-only moment');
    const admin = new pg.Client({ host: repl.primary.dir, port: repl.primary.port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    const readOnly = async (on: boolean) => {
      await admin.query(on ? 'ALTER SYSTEM SET default_transaction_read_only = on' : 'ALTER SYSTEM RESET default_transaction_read_only');
      await admin.query('SELECT pg_reload_conf()');
    };
    try {
      await readOnly(true);
      await waitFor(
        'the primary refuses writes',
        async () => {
          const r = await admin.query<{ v: string }>('SELECT current_setting($1) AS v', ['default_transaction_read_only']);
          return r.rows[0].v === 'on';
        },
        5_000,
        100,
      );
      const sent = c.post(`/api/threads/${threadId}/posts/`, { post: 'Sent while the primary was read-only.' });
      // the write must still be pending (refused and retried), not answered: give it a moment to meet the refusal
      const early = await Promise.race([sent.then(() => 'answered'), new Promise((r) => setTimeout(() => r('pending'), 1500))]);
      assert.equal(early, 'pending', 'the write waited instead of failing');
      await readOnly(false);
      const r = await sent;
      assert.equal(r.status, 200, r.text);
    } finally {
      await readOnly(false).catch(() => undefined);
      await admin.end();
    }
    const page = await c.get(`/api/threads/${threadId}/posts/`);
    assert.equal(page.status, 200, page.text);
    const written = page.body.post_set.results.filter((p: unknown) => /Sent while the primary was read-only/.test(JSON.stringify(p)));
    assert.equal(written.length, 1, 'written once');
  });
});

// A write that gets no connection to a primary (Pgpool refuses sessions while it fails a primary over, and no node is
// primary yet) sent nothing: the api tries again until a primary takes it, instead of answering 503 at once.
describe('When no connection to the primary can be made for a moment (Pgpool failing over)', () => {
  test('then a post sent meanwhile is written once, when the primary answers again', async () => {
    const { c, threadId } = await writerWithThread('writer5', 'Writes across a moment without a primary');
    await primaryAway();
    try {
      // the pooled sessions are gone first, as when Pgpool ends them at a failover (a write on a session that dies
      // under it may have run: that one is not sent again)
      await waitFor('the api dropped its cut sessions', async () => api.rt.db.rw.idleCount === 0, 5_000, 50);
      const sent = c.post(`/api/threads/${threadId}/posts/`, { post: 'Sent while no primary could be reached.' });
      const early = await Promise.race([sent.then((x) => `answered ${x.status} ${x.text}`), new Promise((r) => setTimeout(() => r('pending'), 1500))]);
      assert.equal(early, 'pending', 'the write waited instead of failing');
      await primaryBack();
      const r = await sent;
      assert.equal(r.status, 200, r.text);
    } finally {
      await primaryBack();
    }
    const page = await c.get(`/api/threads/${threadId}/posts/`);
    assert.equal(page.status, 200, page.text);
    const written = page.body.post_set.results.filter((p: unknown) => /Sent while no primary could be reached/.test(JSON.stringify(p)));
    assert.equal(written.length, 1, 'written once');
  });
});
