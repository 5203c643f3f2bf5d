import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { DEFAULT_LOGIN_LIMITS, LoginGuard, normaliseAccount, type LoginLimits } from '../src/login-guard.js';
import { createRedis, type Redis } from '../src/redis.js';
import { startRedis, type RedisInstance } from './support/env.js';

// The login limiter against a REAL redis-server: counted atomically before the password is checked, per address
// and per account.
let server: RedisInstance;
let redis: Redis;
const logLines: string[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
let seq = 0;
const fresh = (p: string) => `${p}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
const guard = (limits: Partial<LoginLimits> = {}) => new LoginGuard(redis, logger, { ...DEFAULT_LOGIN_LIMITS, ...limits });

/** Outcome of an attempt: 'ok' (the password may be checked) or the 429's code. */
async function outcome(g: LoginGuard, ip: string, account: string): Promise<string> {
  try {
    await g.attempt({ ip, account });
    return 'ok';
  } catch (err) {
    const e = err as { status?: number; code?: string };
    assert.equal(e.status, 429, String(err));
    return e.code ?? '?';
  }
}
const count = (xs: string[], v: string) => xs.filter((x) => x === v).length;

before(async () => {
  server = await startRedis();
  redis = createRedis(server.url, server.password, logger);
});
after(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe('LoginGuard', () => {
  test('When 50 attempts at one account from one address arrive at once, then exactly 7 may check a password and 43 get 429, with one login_bruteforce event', async () => {
    const g = guard();
    const ip = '203.0.113.10';
    const account = fresh('victim');
    const results = await Promise.all(Array.from({ length: 50 }, () => outcome(g, ip, account)));
    assert.equal(count(results, 'ok'), DEFAULT_LOGIN_LIMITS.ipAttempts - 1);
    assert.equal(count(results, 'too_many_login_attempts'), 50 - (DEFAULT_LOGIN_LIMITS.ipAttempts - 1));
    const events = ((await redis.xrange('security:events', '-', '+')) as [string, string[]][]).filter(([, f]) => f.includes(ip));
    assert.equal(events.length, 1, 'one event per window');
    assert.deepEqual(events[0][1].slice(0, 8), ['type', 'login_bruteforce', 'ip', ip, 'failures', '8', 'windowSeconds', '30']);
    // the account was charged only for the attempts the address limit let through
    assert.equal(Number(await redis.get(`login:attempts:account:${account}`)), DEFAULT_LOGIN_LIMITS.ipAttempts - 1);
  });

  test('When one account is guessed at from 30 distinct addresses at once, then exactly 20 may check a password and 10 get 429 naming the account; another account is not affected', async () => {
    const g = guard();
    const account = fresh('target');
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => outcome(g, `198.51.100.${i + 1}`, account)));
    assert.equal(count(results, 'ok'), DEFAULT_LOGIN_LIMITS.accountAttempts);
    assert.equal(count(results, 'too_many_account_login_attempts'), 10);
    assert.equal(await outcome(g, '198.51.100.1', fresh('other')), 'ok');
    assert.ok(logLines.some((l) => JSON.parse(l).event === 'login_account_limited'));
  });

  test('When the username is typed in another case or with spaces, then it is the same account', async () => {
    const g = guard({ accountAttempts: 3 });
    const name = fresh('Mixed');
    const typed = [name.toUpperCase(), ` ${name} `, name.toLowerCase(), name];
    const results = [];
    for (const [i, t] of typed.entries()) results.push(await outcome(g, `192.0.2.${i + 1}`, t));
    assert.deepEqual(results, ['ok', 'ok', 'ok', 'too_many_account_login_attempts']);
    assert.equal(normaliseAccount(' Ａlice@Example.COM '), 'alice@example.com');
  });

  test('When a login succeeds after failures, then that address and account get their attempts back; attempts at other accounts stay counted', async () => {
    const g = guard();
    const ip = '203.0.113.20';
    const [mine, other] = [fresh('mine'), fresh('other')];
    for (let i = 0; i < 2; i++) assert.equal(await outcome(g, ip, other), 'ok');
    for (let i = 0; i < 4; i++) assert.equal(await outcome(g, ip, mine), 'ok');
    await g.succeeded({ ip, account: mine });
    assert.equal(Number(await redis.get(`login:attempts:ip:${ip}`)), 2);
    assert.equal(await redis.exists(`login:attempts:account:${mine}`), 0);
    // 2 (other) + 5 more = the 7 checks the window allows, then 429
    const more = [];
    for (let i = 0; i < 6; i++) more.push(await outcome(g, ip, fresh('x')));
    assert.deepEqual(more, ['ok', 'ok', 'ok', 'ok', 'ok', 'too_many_login_attempts']);
  });

  test('When the window has passed, then the address may try again (fixed windows: a counter expires however often it is hit)', async () => {
    const g = guard({ ipAttempts: 3, ipWindowSeconds: 1 });
    const ip = '203.0.113.30';
    const account = fresh('win');
    const first = [];
    for (let i = 0; i < 5; i++) first.push(await outcome(g, ip, account));
    assert.deepEqual(first, ['ok', 'ok', 'too_many_login_attempts', 'too_many_login_attempts', 'too_many_login_attempts']);
    const ttl = await redis.pttl(`login:attempts:ip:${ip}`);
    assert.ok(ttl > 0 && ttl <= 1000, `ttl ${ttl}`);
    await new Promise((r) => setTimeout(r, ttl + 50));
    assert.equal(await outcome(g, ip, account), 'ok');
  });

  test('When the refusal is answered, then Retry-After is what remains of the window', async () => {
    const g = guard({ accountAttempts: 1, accountWindowSeconds: 120 });
    const account = fresh('ra');
    await g.attempt({ ip: '192.0.2.50', account });
    const err = await g.attempt({ ip: '192.0.2.51', account }).then(
      () => undefined,
      (e: { code?: string; extra?: { retryAfter?: number }; retryAfter?: number }) => e,
    );
    assert.ok(err, 'refused');
    const retryAfter = err.extra?.retryAfter ?? err.retryAfter;
    assert.ok(typeof retryAfter === 'number' && retryAfter > 100 && retryAfter <= 120, JSON.stringify(err));
  });

  test('When Redis does not answer, then the attempt is refused with 503 (fails closed: no password is checked uncounted)', async () => {
    const dead = createRedis('redis://127.0.0.1:1', undefined, pino({ level: 'silent' }));
    try {
      const g = new LoginGuard(dead, logger);
      await assert.rejects(
        g.attempt({ ip: '203.0.113.40', account: 'anyone' }),
        (e: { status?: number; code?: string }) => e.status === 503 && e.code === 'service_unavailable',
      );
    } finally {
      dead.disconnect();
    }
  });
});
