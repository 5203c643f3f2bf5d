// The Misago flow through the edge: register, log in with CSRF, start a thread, reply, subscribe, lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client, until } from './support.js';

const suffix = randomBytes(4).toString('hex');
const username = `e2e${suffix}`;
const password = `Pw-${randomBytes(9).toString('base64url')}`;
const email = `${username}@example.com`;

test('When a Misago client walks its flow through the edge, then every step answers as Misago', async (t) => {
  const alice = new Client();
  let threadId = 0;

  await t.test('When a page of the web client (GET /) is read, then it sets the csrftoken cookie, as any Misago page does', async () => {
    const page = new Client();
    const r = await page.get('/');
    assert.equal(r.status, 200);
    assert.match(page.cookies.get('csrftoken') ?? '', /^[0-9a-f]{32}$/);
  });

  await t.test('When the API is first read, then it sets the csrftoken cookie and answers an anonymous user', async () => {
    const r = await alice.get('/api/auth/');
    assert.equal(r.status, 200, r.text);
    assert.ok(alice.cookies.get('csrftoken'), 'csrftoken cookie set');
    assert.equal(r.json.id ?? null, null, 'anonymous');
  });

  await t.test('When an unsafe request lacks X-CSRFToken, then it is refused with 403', async () => {
    const r = await alice.post('/api/users/', { username, email, password }, { csrf: false });
    assert.equal(r.status, 403, r.text);
    assert.ok(r.json?.detail, 'JSON {detail}');
  });

  await t.test('When a user registers, then 200 (as Misago)', async () => {
    const r = await alice.post('/api/users/', { username, email, password });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.username, username);
  });

  await t.test('When credentials are bad, then 400 {detail, code}', async () => {
    const bob = new Client();
    await bob.get('/api/auth/');
    const r = await bob.post('/api/auth/', { username, password: 'wrong-password' });
    assert.equal(r.status, 400, r.text);
    assert.ok(r.json.detail && r.json.code, r.text);
  });

  await t.test('When a signed-in user logs in, then 403 (Misago); when a fresh cookie jar logs in with CSRF, then it is signed in', async () => {
    assert.equal((await alice.post('/api/auth/', { username, password })).status, 403);
    alice.cookies.clear();
    await alice.get('/api/auth/');
    const r = await alice.post('/api/auth/', { username, password });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.username, username);
    assert.ok(alice.cookies.get('sessionid'), 'session cookie');
    const me = await alice.get('/api/auth/');
    assert.equal(me.json.username, username);
  });

  await t.test('When a user starts a thread, then it is created', async () => {
    const editor = await alice.get('/api/threads/editor/');
    assert.equal(editor.status, 200, editor.text);
    const category = (editor.json as Array<{ id: number; post: unknown }>).find((c) => c.post);
    assert.ok(category, `a category to post in: ${editor.text}`);
    const r = await alice.post('/api/threads/', {
      title: `E2E thread ${suffix}`,
      post: `Started by the end-to-end suite (${suffix}).`,
      category: category.id,
    });
    assert.equal(r.status, 200, r.text);
    assert.ok(Number.isInteger(r.json.id), r.text);
    assert.match(r.json.url, /^\/t\/.+\/\d+\/$/);
    threadId = r.json.id;
  });

  await t.test('When the user replies after the 3 s flood protection, then the reply is posted', async () => {
    const r = await until(
      'reply accepted',
      async () => {
        const res = await alice.post(`/api/threads/${threadId}/posts/`, { post: `A reply from the e2e suite (${suffix}).` });
        if (res.status === 403 && res.json?.code === 'flood') return undefined; // flood protection (Misago's 403): retry
        return res;
      },
      20_000,
      1000,
    );
    assert.ok(r.status >= 200 && r.status < 300, r.text);
    const posts = await until(
      'reply visible',
      async () => {
        const p = await alice.get(`/api/threads/${threadId}/posts/`);
        return p.status === 200 && p.json.post_set.count >= 2 ? p : undefined;
      },
      20_000,
    );
    assert.equal(posts.json.post_set.count, 2);
  });

  await t.test('When the user subscribes, then the subscription is set', async () => {
    const r = await alice.patch(`/api/threads/${threadId}/`, [{ op: 'replace', path: 'subscription', value: 'notify' }]);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.subscription, false, 'notify = false in Misago');
  });

  await t.test('When the lists are read, then all, my and subscribed show the thread, and the my-list of a guest is refused', async () => {
    for (const list of ['all', 'my', 'subscribed']) {
      const r = await alice.get(`/api/threads/?list=${list}`);
      assert.equal(r.status, 200, `${list}: ${r.text}`);
      assert.ok(
        (r.json.results as Array<{ id: number }>).some((th) => th.id === threadId),
        `thread ${threadId} in list=${list}`,
      );
    }
    for (const list of ['new', 'unread']) {
      const r = await alice.get(`/api/threads/?list=${list}`);
      assert.equal(r.status, 200, `${list}: ${r.text}`);
      assert.ok(Array.isArray(r.json.results));
    }
    const anon = new Client();
    const r = await anon.get('/api/threads/?list=my');
    assert.equal(r.status, 403, r.text);
  });

  await t.test('When the user logs out, then the session ends', async () => {
    const r = await alice.post('/logout/');
    assert.ok(r.status < 400, r.text);
    const me = await alice.get('/api/auth/');
    assert.equal(me.json.id ?? null, null, 'anonymous again');
  });
});
