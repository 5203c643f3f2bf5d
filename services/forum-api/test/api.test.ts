import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, stackAndApiPerFile, startApi, waitFor, type InProcessApi, type Stack } from './support/env.js';

let stack: Stack;
let api: InProcessApi;
const logLines: string[] = [];

stackAndApiPerFile(
  (s, a) => {
    stack = s;
    api = a;
  },
  { logLines },
);

const client = (headers: Record<string, string> = {}) => new Client(api.url, headers);
/** Lets a user post again at once (flood protection has its own test). */
const unflood = (userId: number) => api.rt.redis.del(`flood:${userId}`);
let seq = 0;
const uname = (p: string) => `${p}${++seq}`;

async function newUser(prefix = 'user') {
  const c = client();
  const u = await c.register(uname(prefix));
  return { c, u };
}
async function admin() {
  const c = client();
  await c.login('admin', 'admin-password-1');
  return c;
}
async function startThread(c: Client, userId: number, title = `Thread ${uname('t')}`, extra: Record<string, unknown> = {}) {
  await unflood(userId);
  const r = await c.post('/api/threads/', { title, post: 'The first post of this thread.', category: 3, ...extra });
  assert.equal(r.status, 200, r.text);
  return r.body as { id: number; title: string; url: string };
}
async function reply(c: Client, userId: number, threadId: number, post = 'A reply to the thread.') {
  await unflood(userId);
  const r = await c.post(`/api/threads/${threadId}/posts/`, { post });
  assert.equal(r.status, 200, r.text);
  return r.body as { id: number };
}

describe('When the database is fresh', () => {
  test('then it has categories 1 Private, 2 Root and 3 First category (child of 2)', async () => {
    const { rows } = await api.rt.db.rw.query('SELECT id, parent_id, name FROM categories ORDER BY id');
    assert.deepEqual(rows.slice(0, 3), [
      { id: 1, parent_id: null, name: 'Private' },
      { id: 2, parent_id: null, name: 'Root' },
      { id: 3, parent_id: 2, name: 'First category' },
    ]);
    const r = await client().get('/api/categories/');
    assert.equal(r.status, 200);
    assert.equal(r.body[0].id, 3);
    assert.equal(r.body[0].name, 'First category');
    assert.deepEqual(r.body[0].subcategories, []);
  });

  test('then the admin from ADMIN_* exists once and is staff', async () => {
    const { rows } = await api.rt.db.rw.query(`SELECT username, is_staff, password_hash FROM users WHERE username = 'admin'`);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].is_staff, true);
    assert.match(rows[0].password_hash, /^\$argon2id\$/);
  });
});

describe('Health and metrics', () => {
  test('When both dependencies are up, then liveness and readiness answer OK', async () => {
    const c = client();
    assert.deepEqual((await c.get('/healthcheck/')).body, { status: 'OK' });
    const ready = await c.get('/healthcheck/ready/');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.checks.postgres.status, 'OK');
    assert.equal(ready.body.checks.redis.status, 'OK');
  });

  test('When GET /healthcheck/ is answered without Express, then it answers exactly as the Express route does (headers, body, histogram, access line)', async () => {
    const fast = await fetch(`${api.url}/healthcheck/`, { headers: { 'x-request-id': 'health-fast-1' } });
    // a query string takes the Express route (same handler as before the fast path)
    const viaExpress = await fetch(`${api.url}/healthcheck/?x=1`, { headers: { 'x-request-id': 'health-express-1' } });
    for (const [r, id] of [
      [fast, 'health-fast-1'],
      [viaExpress, 'health-express-1'],
    ] as const) {
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(r.headers.get('x-request-id'), id);
      assert.equal(r.headers.get('x-powered-by'), null);
      assert.equal(r.headers.get('etag'), null);
      assert.deepEqual(await r.json(), { status: 'OK' });
    }
    const lines = logLines.map((l) => JSON.parse(l)).filter((o) => o.type === 'access' && o.requestId === 'health-fast-1');
    assert.equal(lines.length, 1, 'one access line (ACCESS_LOG=all in tests)');
    assert.equal(lines[0].url, '/healthcheck/');
    // the client address as Express computes it (computed only when the line is written)
    const viaExpressLine = logLines.map((l) => JSON.parse(l)).find((o) => o.type === 'access' && o.requestId === 'health-express-1');
    assert.ok(lines[0].ip, 'the fast path names the client address');
    assert.equal(lines[0].ip, viaExpressLine?.ip);
    const text = await api.rt.metrics.registry.metrics();
    assert.match(text, /http_request_duration_seconds_count\{[^}]*route="\/healthcheck\/"[^}]*status="200"/);
  });

  test('When /metrics is read, then it has request histograms by route and status, in-flight, pool and job gauges', async () => {
    await client().get('/api/threads/999999/');
    const text = await api.rt.metrics.registry.metrics();
    assert.match(text, /http_request_duration_seconds_bucket\{[^}]*route="\/api\/threads\/:id\/"[^}]*status="404"/);
    assert.match(text, /http_requests_in_flight/);
    assert.match(text, /pg_pool_connections\{[^}]*pool="rw",state="idle"/);
    assert.match(text, /pg_pool_connections\{[^}]*pool="ro",state="waiting"/);
    assert.match(text, /forum_jobs\{[^}]*state="pending"/);
  });

  test('When a request is answered, then one access log line has its method, url, status, bytes, ip, user and time', async () => {
    const { c, u } = await newUser('logger');
    const res = await c.get('/api/auth/', { headers: { 'x-forwarded-for': '198.51.100.23' } });
    // NGINX's access line records the user from this header (configs/nginx/nginx.conf forum_user)
    assert.equal(res.headers.get('x-forum-user'), u.username);
    const line = logLines
      .map((l) => JSON.parse(l))
      .reverse()
      .find((o) => o.type === 'access' && o.url === '/api/auth/' && o.user === u.username);
    assert.ok(line, 'access line for the user');
    assert.equal(line.method, 'GET');
    assert.equal(line.status, 200);
    assert.ok(line.bytes > 0);
    assert.equal(line.ip, '198.51.100.23');
    assert.equal(typeof line.responseTimeMs, 'number');
  });
});

describe('CSRF (Django rules)', () => {
  test('When a client sends a GET, then the answer sets the csrftoken cookie', async () => {
    const c = client();
    await c.get('/api/auth/');
    assert.match(c.csrf ?? '', /^[a-f0-9]{48}$/);
  });

  test('When an unsafe request lacks the cookie or the header, or the header is wrong, then it is 403', async () => {
    const c = client();
    let r = await c.post('/api/auth/', { username: 'x', password: 'y' }, { csrf: false });
    assert.equal(r.status, 403);
    assert.deepEqual(r.body, { detail: 'CSRF Failed: CSRF cookie not set.', code: 'permission_denied' });
    await c.get('/api/auth/');
    r = await c.post('/api/auth/', { username: 'x', password: 'y' }, { csrf: false });
    assert.equal(r.status, 403);
    assert.equal(r.body.detail, 'CSRF Failed: CSRF token missing.');
    r = await c.post('/api/auth/', { username: 'x', password: 'y' }, { csrf: false, headers: { 'x-csrftoken': 'a'.repeat(48) } });
    assert.equal(r.status, 403);
    assert.equal(r.body.detail, 'CSRF Failed: CSRF token incorrect.');
    r = await c.post('/api/auth/', { username: 'nobody', password: 'wrong-password' });
    assert.equal(r.status, 400);
  });
});

describe('Users and sessions', () => {
  test('When a user registers, then the answer is 200 with the user (as Misago), the user is signed in, and the session lives in Redis', async () => {
    const c = client();
    const name = uname('reg');
    const r = await c.post('/api/users/', { username: name, email: `${name}@example.com`, password: 'secret-pass-1' });
    assert.equal(r.status, 200);
    assert.equal(r.body.activation, 'active');
    assert.equal(r.body.username, name);
    assert.equal(r.body.email, `${name}@example.com`);
    assert.ok(c.cookies.get('sessionid'));
    const me = await c.get('/api/auth/');
    assert.equal(me.body.id, r.body.id);
    assert.equal(me.body.is_authenticated, true);
    const keys = await api.rt.redis.keys('session:*');
    assert.ok(keys.length >= 1);
    // a second replica (a new runtime on the same Redis/PG) serves the same session
    const other = await startApi(stack.env);
    try {
      const c2 = new Client(other.url);
      c2.cookies = new Map(c.cookies);
      assert.equal((await c2.get('/api/auth/')).body.id, r.body.id);
    } finally {
      await other.close();
    }
    assert.equal((await c.post('/logout/')).status, 200);
    assert.equal((await c.get('/api/auth/')).body.id, null);
  });

  test('When a request came over TLS (NGINX sends X-Forwarded-Proto: https), then the session and CSRF cookies are Secure; over plain HTTP they are not', async () => {
    const secure = client({ 'x-forwarded-proto': 'https' });
    const name = uname('tls');
    const r = await secure.post('/api/users/', { username: name, email: `${name}@example.com`, password: 'secret-pass-1' });
    assert.equal(r.status, 200, r.text);
    const set = r.headers.getSetCookie();
    for (const cookie of ['sessionid', 'csrftoken']) {
      const line = set.find((l) => l.startsWith(`${cookie}=`));
      assert.ok(line, `${cookie} set: ${set.join(' | ')}`);
      assert.match(line, /;\s*Secure/i, line);
    }
    const plain = client();
    const name2 = uname('plain');
    const r2 = await plain.post('/api/users/', { username: name2, email: `${name2}@example.com`, password: 'secret-pass-1' });
    assert.equal(r2.status, 200, r2.text);
    const line2 = r2.headers.getSetCookie().find((l) => l.startsWith('sessionid='));
    assert.ok(line2);
    assert.doesNotMatch(line2, /;\s*Secure/i);
  });

  test('When a registration has bad fields, then it is refused with DRF per-field lists', async () => {
    const c = client();
    const cases: [Record<string, unknown>, string, string][] = [
      [{ username: 'ab', email: 'a@b.cd', password: 'password1' }, 'username', 'invalid_username'],
      [{ username: 'with space', email: 'a@b.cd', password: 'password1' }, 'username', 'invalid_username'],
      [{ username: 'okname', email: 'not-an-email', password: 'password1' }, 'email', 'invalid_email'],
      [{ username: 'okname', email: 'a@b.cd', password: 'short' }, 'password', 'password_too_short'],
      [{ username: 'okname', email: 'a@b.cd', password: 'okname' }, 'password', 'password_too_short'],
      [{ username: 'okname1', email: 'a@b.cd', password: 'okname1' }, 'password', 'password_too_similar'],
      [{ username: true, email: 'a@b.cd', password: 'password1' }, 'username', 'invalid'],
      [{ email: 'a@b.cd', password: 'password1' }, 'username', 'required'],
    ];
    for (const [b, field, code] of cases) {
      const r = await c.post('/api/users/', b);
      assert.equal(r.status, 400, JSON.stringify(b));
      assert.ok(Array.isArray(r.body[field]) && typeof r.body[field][0] === 'string', `${JSON.stringify(b)} -> ${r.text}`);
      assert.equal(r.body.code, code, JSON.stringify(b));
      assert.equal(r.body.detail, undefined);
    }
    // every bad field at once, as DRF's serializer.errors
    const all = await c.post('/api/users/', { username: 'a', email: 'x', password: 'y' });
    assert.deepEqual(Object.keys(all.body).sort(), ['code', 'email', 'password', 'username']);
    const { u } = await newUser('dup');
    const r = await client().post('/api/users/', { username: u.username.toUpperCase(), email: 'other@example.com', password: 'password-1' });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'username_taken');
    assert.deepEqual(r.body.username, ['This username is not available.']);
    const r2 = await client().post('/api/users/', { username: uname('xuser'), email: `${u.username}@EXAMPLE.com`, password: 'password-1' });
    assert.equal(r2.body.code, 'email_taken');
  });

  test('When credentials are good, then login signs in; when bad, then 400 invalid_login; the criteria are published', async () => {
    const { u } = await newUser('login');
    const c = client();
    let r = await c.post('/api/auth/', { username: u.username, password: 'wrong-password' });
    assert.deepEqual([r.status, r.body.code], [400, 'invalid_login']);
    r = await c.post('/api/auth/', { username: u.username, password: 'password-123' });
    assert.equal(r.status, 200);
    assert.equal(r.body.username, u.username);
    // signed in: Misago's login is for guests only
    assert.equal((await c.post('/api/auth/', { username: u.username, password: 'password-123' })).status, 403);
    r = await client().post('/api/auth/', { username: 5, password: 'x' });
    assert.deepEqual([r.status, r.body.code], [400, 'empty_data']);
    const crit = await c.get('/api/auth/criteria/');
    assert.deepEqual(crit.body.username, { min_length: 3, max_length: 14 });
    assert.ok(crit.body.password.some((v: { name: string; min_length?: number }) => v.name === 'MinimumLengthValidator' && v.min_length === 7));
  });

  test('When GET /api/users/{id}/ is read, then only the user sees the e-mail; when the id is unknown, then 404', async () => {
    const { c, u } = await newUser('prof');
    assert.equal((await c.get(`/api/users/${u.id}/`)).body.email, `${u.username}@example.com`);
    const other = await client().get(`/api/users/${u.id}/`);
    assert.equal(other.status, 200);
    assert.equal(other.body.username, u.username);
    assert.equal(other.body.email, undefined);
    assert.equal((await client().get('/api/users/99999/')).status, 404);
    assert.equal((await client().get('/api/users/abc/')).status, 404);
    assert.equal((await client().get('/api/users/99999999999/')).status, 404);
  });

  test('When one IP fails to log in 8 times within 30 s, then the 8th answers 429 and a login_bruteforce event is emitted', async () => {
    const { u } = await newUser('victim');
    const ip = '203.0.113.77';
    const c = client({ 'x-forwarded-for': ip });
    for (let i = 1; i <= 7; i++) {
      const r = await c.post('/api/auth/', { username: u.username, password: `wrong-${i}` });
      assert.equal(r.status, 400, `attempt ${i}`);
    }
    const eighth = await c.post('/api/auth/', { username: u.username, password: 'wrong-8' });
    assert.equal(eighth.status, 429);
    assert.equal(eighth.body.code, 'too_many_login_attempts');
    // what remains of the 30 s window that began with the first attempt
    const retryAfter = Number(eighth.headers.get('retry-after'));
    assert.ok(retryAfter >= 20 && retryAfter <= 30, `Retry-After ${retryAfter}`);
    // blocked even with the right password while the window lasts
    assert.equal((await c.post('/api/auth/', { username: u.username, password: 'password-123' })).status, 429);
    // another IP is not affected
    assert.equal((await client({ 'x-forwarded-for': '203.0.113.78' }).post('/api/auth/', { username: u.username, password: 'password-123' })).status, 200);
    const events = (await api.rt.redis.xrange('security:events', '-', '+')) as [string, string[]][];
    const mine = events
      .map(([, f]) => Object.fromEntries(f.reduce<string[][]>((a, v, i) => (i % 2 ? (a[a.length - 1].push(v), a) : [...a, [v]]), [])))
      .filter((e) => e.ip === ip);
    assert.equal(mine.length, 1, 'one event per window');
    assert.equal(mine[0].type, 'login_bruteforce');
    assert.equal(mine[0].failures, '8');
    assert.equal(mine[0].windowSeconds, '30');
    assert.ok(!Number.isNaN(Date.parse(mine[0].at)));
    const logged = logLines.map((l) => JSON.parse(l)).find((o) => o.event === 'login_bruteforce' && o.ip === ip);
    assert.deepEqual([logged.failures, logged.windowSeconds], [8, 30]);
  });
});

describe('Login limits (counted before the password is checked)', () => {
  test('When 50 wrong passwords for one account arrive at once from one address, then exactly 7 are checked (400) and 43 answer 429', async () => {
    const { u } = await newUser('par');
    const c = client({ 'x-forwarded-for': '203.0.113.90' });
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => c.post('/api/auth/', { username: u.username, password: `wrong-${i}` })));
    const codes = rs.map((r) => `${r.status} ${r.body.code}`);
    assert.equal(codes.filter((x) => x === '400 invalid_login').length, 7, codes.join(','));
    assert.equal(codes.filter((x) => x === '429 too_many_login_attempts').length, 43, codes.join(','));
  });

  test('When one account is guessed at from 25 addresses, then the 21st and later get 429 naming the account, even with the right password; other accounts are not affected', async () => {
    const { u } = await newUser('many');
    const rs = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        client({ 'x-forwarded-for': `198.51.100.${i + 10}` }).post('/api/auth/', { username: u.username, password: `wrong-${i}` }),
      ),
    );
    const codes = rs.map((r) => `${r.status} ${r.body.code}`);
    assert.equal(codes.filter((x) => x === '400 invalid_login').length, 20, codes.join(','));
    assert.equal(codes.filter((x) => x === '429 too_many_account_login_attempts').length, 5, codes.join(','));
    const refused = rs.find((r) => r.status === 429)!;
    assert.match(refused.body.detail, /this account/);
    assert.ok(Number(refused.headers.get('retry-after')) > 500, String(refused.headers.get('retry-after')));
    // e-mail or username, any case: the same account
    const byMail = await client({ 'x-forwarded-for': '198.51.100.60' }).post('/api/auth/', { username: `${u.username}@EXAMPLE.com`, password: 'password-123' });
    assert.equal(byMail.status, 200, byMail.text);
    const right = await client({ 'x-forwarded-for': '198.51.100.61' }).post('/api/auth/', { username: u.username.toUpperCase(), password: 'password-123' });
    assert.deepEqual([right.status, right.body.code], [429, 'too_many_account_login_attempts']);
    const { u: other } = await newUser('many');
    assert.equal((await client({ 'x-forwarded-for': '198.51.100.10' }).post('/api/auth/', { username: other.username, password: 'password-123' })).status, 200);
  });

  test('When a user mistypes a few times and then signs in, then those attempts no longer count against the address', async () => {
    const { u } = await newUser('typo');
    const ip = '203.0.113.91';
    for (let i = 0; i < 5; i++)
      assert.equal((await client({ 'x-forwarded-for': ip }).post('/api/auth/', { username: u.username, password: `typo-${i}` })).status, 400);
    assert.equal((await client({ 'x-forwarded-for': ip }).post('/api/auth/', { username: u.username, password: 'password-123' })).status, 200);
    assert.equal(await api.rt.redis.exists(`login:attempts:ip:${ip}`), 0);
  });
});

describe('Starting threads', () => {
  test('When a guest starts a thread or opens the editor, then it is refused', async () => {
    const c = client();
    const r = await c.post('/api/threads/', { title: 'Guest thread', post: 'hello there', category: 3 });
    assert.equal(r.status, 403);
    assert.equal(r.body.code, 'not_authenticated');
    assert.equal((await c.get('/api/threads/editor/')).status, 403);
  });

  test('When a user opens the editor, then it lists the categories the user may post in', async () => {
    const { c } = await newUser('ed');
    const r = await c.get('/api/threads/editor/');
    assert.deepEqual(r.body, [{ id: 3, name: 'First category', level: 1, post: { close: false, hide: false, pin: 0 }, close: false, hide: false, pin: 0 }]);
    const a = await (await admin()).get('/api/threads/editor/');
    assert.deepEqual(a.body[0], { id: 3, name: 'First category', level: 1, post: { close: true, hide: true, pin: 2 }, close: true, hide: true, pin: 2 });
  });

  test('When a thread is started, then the answer is {id, title, url} and the thread can be fetched', async () => {
    const { c, u } = await newUser('starter');
    const t = await startThread(c, u.id, 'Why does my loop never end?');
    assert.match(t.url, new RegExp(`^/t/why-does-my-loop-never-end/${t.id}/$`));
    const r = await client().get(`/api/threads/${t.id}/`);
    assert.equal(r.status, 200);
    for (const k of [
      'id',
      'category',
      'title',
      'replies',
      'started_on',
      'starter_name',
      'last_post_on',
      'last_poster_name',
      'is_closed',
      'is_hidden',
      'weight',
      'is_new',
      'is_read',
      'subscription',
    ])
      assert.ok(k in r.body, k);
    assert.equal(r.body.category.id, 3);
    assert.deepEqual(
      r.body.path.map((c: { id: number }) => c.id),
      [3],
    );
    assert.equal(r.body.replies, 0);
    assert.equal(r.body.starter_name, u.username);
    assert.equal(r.body.subscription, null);
  });

  test('When thread input is bad, then it is a 400 with DRF per-field lists', async () => {
    const { c, u } = await newUser('badin');
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{ title: 'abc', post: 'valid post', category: 3 }, 400, 'title_too_short', 'title'],
      [{ title: 'x'.repeat(91), post: 'valid post', category: 3 }, 400, 'title_too_long', 'title'],
      [{ title: '!!!!!!', post: 'valid post', category: 3 }, 400, 'title_invalid', 'title'],
      [{ title: 'Valid title', post: 'abc', category: 3 }, 400, 'post_too_short', 'post'],
      [{ title: 'Valid title', post: 'x'.repeat(60_001), category: 3 }, 400, 'post_too_long', 'post'],
      [{ title: 'Valid title', post: 'valid post' }, 400, 'required', 'category'],
      [{ title: 'Valid title', post: 'valid post', category: 'three' }, 400, 'invalid', 'category'],
      [{ title: 'Valid title', post: 'valid post', category: 4242 }, 400, 'category_not_found', 'category'],
      [{ title: 'Valid title', post: 'valid post', category: 1 }, 400, 'category_not_found', 'category'],
      [{ title: 'Valid title', post: 'valid post', category: 2 }, 400, 'category_not_found', 'category'],
      [{ title: true, post: 'valid post', category: 3 }, 400, 'invalid', 'title'],
      [{ title: 'Valid title', post: 'valid\u0000post', category: 3 }, 400, 'invalid', 'post'],
      [{ title: 'Valid title', post: 'valid post', category: 3, attachments: [1] }, 400, 'attachments_unsupported', 'attachments'],
    ];
    for (const [b, status, code, field] of cases) {
      await unflood(u.id);
      const r = await c.post('/api/threads/', b);
      assert.equal(r.status, status, `${JSON.stringify(b).slice(0, 80)} -> ${r.text}`);
      assert.equal(r.body.code, code, JSON.stringify(b).slice(0, 80));
      assert.ok(Array.isArray(r.body[field]), `${field} in ${r.text.slice(0, 200)}`);
    }
    // close/hide/pin belong to moderators; Misago ignores them for everyone else
    await unflood(u.id);
    const plain = await c.post('/api/threads/', { title: 'Valid title', post: 'valid post', category: 3, pin: 2, close: true });
    assert.equal(plain.status, 200, plain.text);
    const made = (await c.get(`/api/threads/${plain.body.id}/`)).body;
    assert.deepEqual([made.weight, made.is_closed], [0, false]);
    const malformed = await c.post('/api/threads/', undefined, { raw: '{"title": "x",' });
    assert.deepEqual([malformed.status, malformed.body.code], [400, 'parse_error']);
    const arr = await c.post('/api/threads/', [1, 2]);
    assert.deepEqual([arr.status, arr.body.code, arr.body.non_field_errors], [400, 'invalid_body', ['Invalid data. Expected a dictionary, but got list.']]);
    const text = await c.post('/api/threads/', undefined, { raw: 'title=x', headers: { 'content-type': 'text/plain' } });
    assert.deepEqual([text.status, text.body.code], [415, 'unsupported_media_type']);
  });

  test('When a post holds a script, then its content is sanitized HTML and no script survives', async () => {
    const { c, u } = await newUser('xss');
    const t = await startThread(c, u.id, 'Markdown and XSS', {
      post: '**bold** <script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)> <a href="https://ok.example/" onclick="evil()">ok</a>',
    });
    const r = await client().get(`/api/threads/${t.id}/posts/`);
    const html: string = r.body.post_set.results[0].content;
    assert.match(html, /<strong>bold<\/strong>/);
    assert.doesNotMatch(html, /<script|javascript:|onerror|onclick|<img/i);
    assert.match(html, /<a href="https:\/\/ok.example\/" rel="nofollow noopener">ok<\/a>/);
  });

  test('When a user posts again within 3 s, then the second post is 403 (Misago) with code flood', async () => {
    const { c, u } = await newUser('flood');
    const t = await startThread(c, u.id);
    await unflood(u.id);
    // a post that was not created (unknown thread, unknown category) does not use up the slot
    assert.equal((await c.post('/api/threads/999999/posts/', { post: 'reply to nowhere' })).status, 404);
    assert.equal((await c.post('/api/threads/', { title: 'Nowhere thread', post: 'to nowhere', category: 999 })).status, 400);
    assert.equal((await c.post(`/api/threads/${t.id}/posts/`, { post: 'first reply here' })).status, 200);
    const r = await c.post(`/api/threads/${t.id}/posts/`, { post: 'second reply here' });
    assert.equal(r.status, 403);
    assert.deepEqual(r.body, { detail: "You can't post message so quickly after previous one.", code: 'flood' });
    const ttl = await api.rt.redis.pttl(`flood:${u.id}`);
    assert.ok(ttl > 0 && ttl <= 3000, `ttl ${ttl}`);
  });
});

describe('Thread lists', () => {
  test('When a thread list is read, then it has 26 per page with a cursor, newest activity first, pinned first, one SQL statement per page', async () => {
    const { c, u } = await newUser('lister');
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) ids.push((await startThread(c, u.id, `Paging thread number ${i}`)).id);
    // a reply bumps the oldest one to the top
    await reply(c, u.id, ids[0]);
    const adm = await admin();
    const pinned = await startThread(adm, 1, 'Pinned announcement');
    assert.equal((await adm.patch(`/api/threads/${pinned.id}/`, [{ op: 'replace', path: 'weight', value: 2 }])).body.weight, 2);
    // a newer normal thread still comes after the pinned one
    const newest = await startThread(c, u.id, 'Newest normal thread');

    const before = api.rt.db.stats.queries;
    const p1 = await client().get('/api/threads/');
    assert.equal(api.rt.db.stats.queries - before, 1, 'one statement for a guest list page');
    assert.equal(p1.status, 200);
    assert.equal(p1.body.results[0].id, pinned.id);
    assert.equal(p1.body.results[1].id, newest.id);
    assert.equal(p1.body.results[2].id, ids[0]);
    assert.equal(p1.body.results.length, 1 + 26);
    assert.deepEqual(p1.body.subcategories, [3]);
    assert.equal(typeof p1.body.next, 'number');
    const p2 = await client().get(`/api/threads/?start=${p1.body.next}`);
    assert.ok(p2.body.results.every((t: { weight: number }) => t.weight === 0));
    const seen = new Set(p1.body.results.map((t: { id: number }) => t.id));
    for (const t of p2.body.results) assert.ok(!seen.has(t.id), `thread ${t.id} on two pages`);
    const all = [...p1.body.results, ...p2.body.results].map((t: { id: number }) => t.id);
    for (const id of ids) assert.ok(all.includes(id) || p2.body.next !== null, `thread ${id} listed`);
    const lastPostIds = p2.body.results.map((t: { last_post: number }) => t.last_post);
    assert.deepEqual(
      lastPostIds,
      [...lastPostIds].sort((a, b) => b - a),
    );

    const b2 = api.rt.db.stats.queries;
    const mine = await c.get('/api/threads/?list=my&category=3');
    assert.equal(api.rt.db.stats.queries - b2, 1, 'one statement for a signed-in list page');
    assert.ok(mine.body.results.every((t: { starter_name: string }) => t.starter_name === u.username));
  });

  test('When a guest asks for a list other than all, then login is needed; when list or start is unknown, then 404 (Misago); when category=abc, then 400', async () => {
    const g = client();
    for (const list of ['my', 'new', 'unread', 'subscribed']) {
      const r = await g.get(`/api/threads/?list=${list}`);
      assert.equal(r.status, 403, list);
    }
    assert.equal((await g.get('/api/threads/?list=bogus')).status, 404);
    assert.equal((await g.get('/api/threads/?category=424242')).status, 404);
    assert.equal((await g.get('/api/threads/?category=1')).status, 404);
    const abc = await g.get('/api/threads/?category=abc');
    assert.deepEqual([abc.status, abc.body.category], [400, ['"category" must be a positive integer.']]);
    assert.equal((await g.get('/api/threads/?start=-5')).status, 404);
    assert.equal((await g.get('/api/threads/?start=abc')).status, 404);
    assert.equal((await g.get('/api/threads/?start=99999999999')).status, 200);
    assert.equal((await g.get('/api/threads/?list=all&list=my')).status, 404);
    assert.equal((await g.get('/api/threads/?category=3')).status, 200);
  });

  test('When threads are read and subscribed, then the my / new / unread / subscribed lists follow Misago (docs/API-DECISIONS.md)', async () => {
    const a = await newUser('alpha');
    const b = await newUser('beta');
    const tA = await startThread(a.c, a.u.id, 'Alpha started this');
    const tB = await startThread(b.c, b.u.id, 'Beta started this');
    const ids = (r: { body: { results: { id: number }[] } }) => r.body.results.map((t) => t.id);

    // my = started by me
    assert.ok(ids(await a.c.get('/api/threads/?list=my')).includes(tA.id));
    assert.ok(!ids(await a.c.get('/api/threads/?list=my')).includes(tB.id));
    // new = never read: A never opened B's thread; her own thread counts as read
    let newA = ids(await a.c.get('/api/threads/?list=new'));
    assert.ok(newA.includes(tB.id));
    assert.ok(!newA.includes(tA.id));
    const listed = (await a.c.get('/api/threads/?list=all')).body.results.find((t: { id: number }) => t.id === tB.id);
    assert.deepEqual([listed.is_new, listed.is_read], [true, false]);
    // reading the posts marks it read
    const view = await a.c.get(`/api/threads/${tB.id}/posts/`);
    assert.equal(view.body.post_set.results[0].is_new, true, 'shown as new on the view that reads it');
    newA = ids(await a.c.get('/api/threads/?list=new'));
    assert.ok(!newA.includes(tB.id));
    assert.ok(!ids(await a.c.get('/api/threads/?list=unread')).includes(tB.id));
    assert.equal((await a.c.get(`/api/threads/${tB.id}/`)).body.is_read, true);
    // unread = read before, newer posts since
    await reply(b.c, b.u.id, tB.id, 'Beta adds a reply');
    assert.ok(ids(await a.c.get('/api/threads/?list=unread')).includes(tB.id));
    assert.ok(!ids(await a.c.get('/api/threads/?list=new')).includes(tB.id));
    assert.equal((await a.c.get(`/api/threads/${tB.id}/`)).body.is_read, false);
    // marking the last post read through the read endpoint
    const last = (await client().get(`/api/threads/${tB.id}/`)).body.last_post;
    const mr = await a.c.post(`/api/threads/${tB.id}/posts/${last}/read/`);
    assert.deepEqual(mr.body, { thread_is_read: true });
    assert.ok(!ids(await a.c.get('/api/threads/?list=unread')).includes(tB.id));
    // subscribed
    assert.ok(!ids(await a.c.get('/api/threads/?list=subscribed')).includes(tB.id));
    await a.c.patch(`/api/threads/${tB.id}/`, [{ op: 'replace', path: 'subscription', value: 'notify' }]);
    assert.deepEqual(ids(await a.c.get('/api/threads/?list=subscribed')), [tB.id]);
    // read marker is per user: B has not read A's thread
    assert.ok(ids(await b.c.get('/api/threads/?list=new')).includes(tA.id));
    // read endpoint on a post of another thread is 404
    assert.equal((await a.c.post(`/api/threads/${tA.id}/posts/${last}/read/`)).status, 404);
    assert.equal((await client().post(`/api/threads/${tA.id}/posts/${last}/read/`)).status, 403);
  });
});

describe('Thread PATCH (JSON-Patch) and DELETE', () => {
  test('When the subscription is set to notify / email / null, then the answer is false / true / null', async () => {
    const { c, u } = await newUser('sub');
    const t = await startThread(c, u.id);
    const set = (value: unknown) => c.patch(`/api/threads/${t.id}/`, [{ op: 'replace', path: 'subscription', value }]);
    let r = await set('notify');
    assert.deepEqual(r.body, { id: t.id, detail: ['ok'], subscription: false });
    assert.equal((await c.get(`/api/threads/${t.id}/`)).body.subscription, false);
    r = await set('email');
    assert.deepEqual(r.body, { id: t.id, detail: ['ok'], subscription: true });
    assert.equal((await c.get(`/api/threads/${t.id}/`)).body.subscription, true);
    r = await set(null);
    assert.deepEqual(r.body, { id: t.id, detail: ['ok'], subscription: null });
    assert.equal((await c.get(`/api/threads/${t.id}/`)).body.subscription, null);
    r = await set('sms');
    assert.deepEqual(r.body, { id: t.id, detail: ['"subscription" must be "notify", "email" or null.'] });
    assert.equal(r.status, 400);
  });

  test('When a patch is malformed or not permitted, then it is refused', async () => {
    const owner = await newUser('own');
    const other = await newUser('oth');
    const t = await startThread(owner.c, owner.u.id);
    const p = (c: Client, b: unknown) => c.patch(`/api/threads/${t.id}/`, b);
    let r = await p(owner.c, { op: 'replace', path: 'subscription', value: 'notify' });
    assert.deepEqual([r.status, r.body.detail], [400, 'PATCH request should be a list of operations.']);
    assert.deepEqual((await p(owner.c, [])).body, { id: t.id, detail: [] });
    r = await p(owner.c, [{ op: 'move', path: 'title', value: 'x' }]);
    assert.deepEqual([r.status, r.body], [400, { id: t.id, detail: ['"move" op is unsupported'] }]);
    // a path Misago has no handler for is skipped: "ok"
    r = await p(owner.c, [{ op: 'replace', path: 'bogus', value: 1 }]);
    assert.deepEqual([r.status, r.body], [200, { id: t.id, detail: ['ok'] }]);
    assert.equal((await p(owner.c, [42])).status, 400);
    assert.equal((await client().patch(`/api/threads/${t.id}/`, [{ op: 'replace', path: 'subscription', value: 'notify' }])).status, 403);
    assert.equal((await owner.c.patch('/api/threads/999999/', [{ op: 'replace', path: 'subscription', value: 'notify' }])).status, 404);
    // title: owner yes, others no
    r = await p(owner.c, [{ op: 'replace', path: 'title', value: 'Renamed by owner' }]);
    assert.deepEqual([r.status, r.body.title], [200, 'Renamed by owner']);
    // refusals are Misago's 400 {id, detail: [reason]}
    assert.equal((await p(other.c, [{ op: 'replace', path: 'title', value: 'Renamed by other' }])).status, 400);
    assert.deepEqual((await p(owner.c, [{ op: 'replace', path: 'title', value: 'no' }])).body, {
      id: t.id,
      detail: ['Thread title should be at least 5 characters long (it has 2).'],
    });
    // moderator-only paths
    assert.equal((await p(owner.c, [{ op: 'replace', path: 'is-closed', value: true }])).status, 400);
    assert.equal((await p(owner.c, [{ op: 'replace', path: 'weight', value: 1 }])).status, 400);
    const adm = await admin();
    assert.equal((await p(adm, [{ op: 'replace', path: 'weight', value: 7 }])).status, 400);
    r = await p(adm, [{ op: 'replace', path: 'is-closed', value: true }]);
    assert.deepEqual([r.status, r.body.is_closed], [200, true]);
    // closed: users can't reply, moderators can
    await unflood(other.u.id);
    const closed = await other.c.post(`/api/threads/${t.id}/posts/`, { post: 'reply to closed' });
    assert.equal(closed.status, 403);
    assert.equal((await other.c.get(`/api/threads/${t.id}/posts/reply_editor/`)).status, 403);
    await reply(adm, 1, t.id, 'moderator reply to closed');
    // atomic: a failing op rolls back the earlier ones
    r = await p(adm, [
      { op: 'replace', path: 'is-closed', value: false },
      { op: 'replace', path: 'weight', value: 9 },
    ]);
    assert.equal(r.status, 400);
    assert.equal((await client().get(`/api/threads/${t.id}/`)).body.is_closed, true);
  });

  test('When a thread is hidden, then only staff and its starter see it', async () => {
    const owner = await newUser('hid');
    const t = await startThread(owner.c, owner.u.id);
    const adm = await admin();
    assert.equal((await adm.patch(`/api/threads/${t.id}/`, [{ op: 'replace', path: 'is-hidden', value: true }])).status, 200);
    assert.equal((await client().get(`/api/threads/${t.id}/`)).status, 404);
    assert.equal((await owner.c.get(`/api/threads/${t.id}/`)).status, 200);
    assert.equal((await adm.get(`/api/threads/${t.id}/posts/`)).status, 200);
    assert.ok(!(await client().get('/api/threads/')).body.results.some((x: { id: number }) => x.id === t.id));
  });

  test('When a thread is deleted, then the starter may while it has no replies, and moderators always', async () => {
    const owner = await newUser('del');
    const other = await newUser('del');
    const t1 = await startThread(owner.c, owner.u.id);
    assert.equal((await other.c.del(`/api/threads/${t1.id}/`)).status, 403);
    assert.equal((await client().del(`/api/threads/${t1.id}/`)).status, 403);
    assert.deepEqual((await owner.c.del(`/api/threads/${t1.id}/`)).body, {});
    assert.equal((await client().get(`/api/threads/${t1.id}/`)).status, 404);
    const t2 = await startThread(owner.c, owner.u.id);
    await reply(other.c, other.u.id, t2.id);
    assert.equal((await owner.c.del(`/api/threads/${t2.id}/`)).status, 403);
    assert.equal((await (await admin()).del(`/api/threads/${t2.id}/`)).status, 200);
    assert.equal((await (await admin()).del(`/api/threads/${t2.id}/`)).status, 404);
  });
});

describe('Posts', () => {
  test('When a thread is read, then it has 18 posts per page with Misago post_set paging; when the page is out of range, then 404', async () => {
    const { c, u } = await newUser('pager');
    const t = await startThread(c, u.id);
    for (let i = 0; i < 19; i++) await reply(c, u.id, t.id, `Reply number ${i} here`);
    const p1 = await client().get(`/api/threads/${t.id}/posts/`);
    assert.equal(p1.status, 200);
    assert.equal(p1.body.id, t.id);
    assert.equal(p1.body.replies, 19);
    const ps = p1.body.post_set;
    assert.equal(ps.results.length, 18);
    assert.deepEqual([ps.page, ps.pages, ps.count, ps.next, ps.previous], [1, 2, 20, 2, null]);
    const p2 = (await client().get(`/api/threads/${t.id}/posts/?page=2`)).body.post_set;
    assert.deepEqual([p2.results.length, p2.page, p2.next, p2.previous], [2, 2, null, 1]);
    assert.ok(p2.results[0].id > ps.results[17].id);
    assert.equal((await client().get(`/api/threads/${t.id}/posts/?page=3`)).status, 404);
    // Misago: page 0 is the first page, a page that is no number is not found
    assert.equal((await client().get(`/api/threads/${t.id}/posts/?page=0`)).body.post_set.page, 1);
    assert.equal((await client().get(`/api/threads/${t.id}/posts/?page=x`)).status, 404);
    assert.equal((await client().get('/api/threads/987654/posts/')).status, 404);
  });

  test('When a user replies, then the answer is the post and the thread is updated; when the reply is bad, then 4xx', async () => {
    const a = await newUser('rep');
    const b = await newUser('rep');
    const t = await startThread(a.c, a.u.id);
    await unflood(b.u.id);
    const r = await b.c.post(`/api/threads/${t.id}/posts/`, { post: 'Have you tried *turning it off*?' });
    assert.equal(r.status, 200);
    assert.equal(r.body.poster_name, b.u.username);
    assert.equal(r.body.content, '<p>Have you tried <em>turning it off</em>?</p>');
    const th = (await client().get(`/api/threads/${t.id}/`)).body;
    assert.deepEqual([th.replies, th.last_poster_name, th.last_post], [1, b.u.username, r.body.id]);
    assert.equal((await client().post(`/api/threads/${t.id}/posts/`, { post: 'guest reply' })).status, 403);
    await unflood(b.u.id);
    const short = await b.c.post(`/api/threads/${t.id}/posts/`, { post: 'x' });
    assert.deepEqual([short.body.code, short.body.post], ['post_too_short', ['Posted message should be at least 5 characters long (it has 1).']]);
    assert.deepEqual((await b.c.post(`/api/threads/${t.id}/posts/`, { post: { nested: true } })).body, { post: ['Not a valid string.'], code: 'invalid' });
    assert.equal((await b.c.post('/api/threads/777777/posts/', { post: 'to nowhere at all' })).status, 404);
    assert.deepEqual((await b.c.get(`/api/threads/${t.id}/posts/reply_editor/`)).body, {});
    assert.equal((await client().get(`/api/threads/${t.id}/posts/reply_editor/`)).status, 403);
  });

  test('When a post is edited, then the poster and moderators may, and others may not', async () => {
    const a = await newUser('edit');
    const b = await newUser('edit');
    const t = await startThread(a.c, a.u.id);
    const first = (await client().get(`/api/threads/${t.id}/`)).body.last_post;
    const r = await a.c.put(`/api/threads/${t.id}/posts/${first}/`, { post: 'Edited **content**' });
    assert.equal(r.status, 200);
    assert.equal(r.body.content, '<p>Edited <strong>content</strong></p>');
    assert.equal(r.body.edits, 1);
    assert.equal((await b.c.put(`/api/threads/${t.id}/posts/${first}/`, { post: 'Hijacked content' })).status, 403);
    assert.equal((await client().put(`/api/threads/${t.id}/posts/${first}/`, { post: 'Guest content' })).status, 403);
    assert.equal((await (await admin()).put(`/api/threads/${t.id}/posts/${first}/`, { post: 'Moderated content' })).status, 200);
    assert.equal((await a.c.put(`/api/threads/${t.id}/posts/99999/`, { post: 'Missing post here' })).status, 404);
    assert.equal((await a.c.put(`/api/threads/${t.id}/posts/${first}/`, { post: '' })).status, 400);
    const shown = (await client().get(`/api/threads/${t.id}/posts/`)).body.post_set.results[0];
    assert.equal(shown.content, '<p>Moderated content</p>');
  });

  test('When a user replies, then a job is enqueued on the Redis stream', async () => {
    const { c, u } = await newUser('jobs');
    const t = await startThread(c, u.id);
    const before = await api.rt.redis.xlen('forum:jobs');
    const p = await reply(c, u.id, t.id);
    const entries = (await api.rt.redis.xrevrange('forum:jobs', '+', '-', 'COUNT', 1)) as [string, string[]][];
    assert.equal(await api.rt.redis.xlen('forum:jobs'), before + 1);
    assert.deepEqual(JSON.parse(entries[0][1][1]), { type: 'post_created', postId: p.id });
  });
});

describe('Guest micro-cache (stale-tolerant anonymous reads)', () => {
  test('When a write goes through this replica, then guests see it at once; when elsewhere, then within ANON_CACHE_MS', async () => {
    const { c, u } = await newUser('cache');
    const t = await startThread(c, u.id);
    const g = client();
    assert.equal((await g.get(`/api/threads/${t.id}/posts/`)).body.replies, 0);
    await reply(c, u.id, t.id);
    assert.equal((await g.get(`/api/threads/${t.id}/posts/`)).body.replies, 1, 'own replica invalidates');
    // another replica writes (same PG/Redis): guests here may see the old page for at most ANON_CACHE_MS
    const other = await startApi(stack.env);
    try {
      const oc = new Client(other.url);
      await oc.login(u.username, 'password-123');
      await unflood(u.id);
      assert.equal((await oc.post(`/api/threads/${t.id}/posts/`, { post: 'reply through replica two' })).status, 200);
      const started = Date.now();
      const fresh = await waitFor(
        'fresh page',
        async () => ((await g.get(`/api/threads/${t.id}/posts/`)).body.replies === 2 ? Date.now() : undefined),
        5000,
        50,
      );
      assert.ok(fresh - started <= api.cfg.ANON_CACHE_MS + 500, `stale for ${fresh - started} ms`);
      // signed-in users never get cached pages
      assert.equal((await c.get(`/api/threads/${t.id}/`)).body.replies, 2);
    } finally {
      await other.close();
    }
  });
});

describe('Routing', () => {
  test('When a route is unknown, then the answer is Django-style 404 JSON', async () => {
    const r = await client().get('/api/nope/');
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 'not_found');
    assert.equal(typeof r.body.detail, 'string');
  });
});

describe('Prepared statements', () => {
  test('When a signed-in reader reads the same thread 4 times, then each statement is prepared once on the connection and executed again', async () => {
    const { c, u } = await newUser('prep');
    const t = await startThread(c, u.id);
    for (let i = 0; i < 4; i++) assert.equal((await c.get(`/api/threads/${t.id}/posts/`)).status, 200);
    // sequential requests reuse the pool's most recent idle connection (LIFO): the one that served them
    const conn = await api.rt.db.rw.connect();
    try {
      const r = await conn.query(
        "SELECT count(*)::int AS statements, coalesce(max(generic_plans + custom_plans), 0)::int AS most FROM pg_prepared_statements WHERE name LIKE 'f\\_%'",
      );
      const { statements, most } = r.rows[0] as { statements: number; most: number };
      assert.ok(statements >= 1, 'no named statement on the connection');
      assert.ok(most >= 4, `the most used statement ran ${most} times: it is prepared again instead of reused`);
    } finally {
      conn.release();
    }
  });
});
