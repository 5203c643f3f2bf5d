// Signed-in readers do not notice a Redis failover, and revocations (logout, password change, ban) still
// reach every api task within 2 s while Redis does not answer. Three REAL api processes share a real PostgreSQL and
// a real redis-server; "Redis fails over" = the redis-server process is frozen (SIGSTOP): connections stay open and
// nothing answers, which is what a dead master behind HAProxy looks like to the api until the new one is routed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, spawnEntry, startRedis, startStack, waitFor, type Child, type RedisInstance, type Stack } from './support/env.js';

let stack: Stack;
let redis: RedisInstance;
let tasks: Child[] = [];
let urls: string[] = [];
const REVOKE_BOUND_MS = 2000;

before(async () => {
  stack = await startStack();
  redis = await startRedis();
  const env = { ...stack.env, REDIS_URL: redis.url, REDIS_PASSWORD: redis.password, PORT: '0', METRICS_PORT: '0' };
  tasks = [spawnEntry('main', env)];
  // the first applies the migrations; the others start once it listens
  const first = Number((await tasks[0].waitForLine((o) => o.msg === 'forum api listening', 90_000)).port);
  tasks.push(spawnEntry('main', env), spawnEntry('main', env));
  const rest = await Promise.all(tasks.slice(1).map((t) => t.waitForLine((o) => o.msg === 'forum api listening', 90_000).then((o) => Number(o.port))));
  urls = [first, ...rest].map((p) => `http://127.0.0.1:${p}`);
});
after(async () => {
  if (redis?.proc.pid) {
    try {
      process.kill(redis.proc.pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  }
  await Promise.all(tasks.map((t) => t.kill('SIGKILL')));
  await redis?.stop();
  await stack?.stop();
});

/** The same browser (cookie jar) talking to api task i. */
function on(c: Client, i: number): Client {
  const d = new Client(urls[i]);
  d.cookies = c.cookies;
  return d;
}
async function whoOn(c: Client, i: number): Promise<number | null> {
  const r = await on(c, i).get('/api/auth/');
  assert.equal(r.status, 200, `task ${i}: ${r.status} ${r.text}`);
  return r.body.id as number | null;
}
/** ms until the session is refused on every task (polled every 50 ms). */
async function refusedEverywhereWithin(c: Client, boundMs: number): Promise<number> {
  const t0 = Date.now();
  const pending = new Set([0, 1, 2]);
  while (pending.size && Date.now() - t0 < boundMs + 3000) {
    for (const i of [...pending]) if ((await whoOn(c, i)) === null) pending.delete(i);
    if (pending.size) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(pending.size, 0, `still signed in on task(s) ${[...pending]}`);
  return Date.now() - t0;
}
async function signIn(username: string, password: string, task = 0): Promise<Client> {
  const c = new Client(urls[task]);
  await c.login(username, password);
  return c;
}

describe('When Redis fails over (frozen: no answers)', () => {
  const pw = 'password-123';
  let a1: Client, a2: Client, b1: Client, b2: Client, c1: Client, admin: Client;
  const ids: Record<string, number> = {};

  before(async () => {
    for (const n of ['ann', 'bob', 'cat']) ids[n] = (await new Client(urls[0]).register(n, pw)).id;
    [a1, a2, b1, b2, c1] = await Promise.all([signIn('ann', pw, 0), signIn('ann', pw, 1), signIn('bob', pw, 2), signIn('bob', pw, 0), signIn('cat', pw, 1)]);
    admin = await signIn('admin', 'admin-password-1', 2);
    a1Session = a1.cookies.get('sessionid')!;
    for (const [c, who] of [
      [a1, 'ann'],
      [a2, 'ann'],
      [b1, 'bob'],
      [b2, 'bob'],
      [c1, 'cat'],
    ] as const)
      for (const i of [0, 1, 2]) assert.equal(await whoOn(c, i), ids[who], `${who} on task ${i} before the fault`);
    process.kill(redis.proc.pid!, 'SIGSTOP');
  });

  test('then signed-in reads keep working on every task (sessions from PostgreSQL)', async () => {
    for (const i of [0, 1, 2]) {
      const t0 = Date.now();
      const me = await on(a2, i).get('/api/auth/');
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body.id, ids.ann);
      const mine = await on(a2, i).get('/api/threads/?list=my');
      assert.equal(mine.status, 200, mine.text);
      assert.ok(Date.now() - t0 < 2000, `task ${i} answered in ${Date.now() - t0} ms`);
    }
  });

  test('then a login answers 503 with Retry-After: the brute-force counter fails closed', async () => {
    const r = await new Client(urls[0]).post('/api/auth/', { username: 'ann', password: pw });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.headers.get('retry-after'), '2');
    // even a wrong password is not checked uncounted
    const wrong = await new Client(urls[1]).post('/api/auth/', { username: 'ann', password: 'wrong-password' });
    assert.equal(wrong.status, 503, wrong.text);
  });

  test('then a post is still acknowledged (flood check fails open, the job is left to the sweep)', async () => {
    const t = await on(a2, 0).post('/api/threads/', { title: 'Posted while Redis is away', post: 'Nothing acknowledged is lost.', category: 3 });
    assert.equal(t.status, 200, t.text);
    const r = await on(a2, 1).get(`/api/threads/${t.body.id}/posts/`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.post_set.results.length, 1);
  });

  test('then a logout takes effect on every task within 2 s; the other session of the user stays', async () => {
    const out = await on(a1, 0).post('/logout/');
    assert.equal(out.status, 200, out.text);
    // the browser dropped its cookie; the id itself must be dead everywhere: replay the old cookie
    assert.match(String(out.headers.get('set-cookie')), /sessionid=;/);
    const stolen = new Client(urls[0]);
    stolen.cookies.set('sessionid', a1Session);
    const ms = await refusedEverywhereWithin(stolen, REVOKE_BOUND_MS);
    assert.ok(ms <= REVOKE_BOUND_MS, `logout reached every task in ${ms} ms`);
    process.stdout.write(`# logout refused on all 3 tasks ${ms} ms after it was acknowledged\n`);
    for (const i of [0, 1, 2]) assert.equal(await whoOn(a2, i), ids.ann);
  });

  test('then a password change revokes the other sessions on every task within 2 s; the current one stays', async () => {
    const r = await on(b2, 1).post(`/api/users/${ids.bob}/change-password/`, { password: pw, new_password: 'new-password-456' });
    assert.equal(r.status, 200, r.text);
    const ms = await refusedEverywhereWithin(b1, REVOKE_BOUND_MS);
    assert.ok(ms <= REVOKE_BOUND_MS, `password change reached every task in ${ms} ms`);
    process.stdout.write(`# password change refused on all 3 tasks ${ms} ms after it was acknowledged\n`);
    for (const i of [0, 1, 2]) assert.equal(await whoOn(b2, i), ids.bob);
  });

  test('then a ban revokes the user on every task within 2 s', async () => {
    const r = await on(admin, 2).post(`/api/users/${ids.cat}/ban/`);
    assert.equal(r.status, 200, r.text);
    const ms = await refusedEverywhereWithin(c1, REVOKE_BOUND_MS);
    assert.ok(ms <= REVOKE_BOUND_MS, `ban reached every task in ${ms} ms`);
    process.stdout.write(`# ban refused on all 3 tasks ${ms} ms after it was acknowledged\n`);
  });

  test('when Redis answers again, then the revoked sessions stay revoked and the others work', async () => {
    process.kill(redis.proc.pid!, 'SIGCONT');
    await waitFor(
      'login works again',
      async () => (await new Client(urls[0]).post('/api/auth/', { username: 'ann', password: pw })).status === 200,
      20_000,
      200,
    );
    const stolen = new Client(urls[0]);
    stolen.cookies.set('sessionid', a1Session);
    for (let round = 0; round < 3; round++)
      for (const i of [0, 1, 2]) {
        assert.equal(await whoOn(stolen, i), null, `logged-out session on task ${i}`);
        assert.equal(await whoOn(b1, i), null, `bob's old session on task ${i}`);
        assert.equal(await whoOn(c1, i), null, `banned cat on task ${i}`);
        assert.equal(await whoOn(a2, i), ids.ann);
        assert.equal(await whoOn(b2, i), ids.bob);
      }
    const banned = await new Client(urls[1]).post('/api/auth/', { username: 'cat', password: pw });
    assert.equal(banned.status, 400);
    assert.equal(banned.body.code, 'banned');
  });
});

let a1Session = '';
