import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { accessLogger, accessLogPolicyFromEnv, wantsAccessLine, writeAccessLine } from '../src/http.js';

test('When ACCESS_LOG is unset, then every request is logged; when it is errors, then only server errors and slow requests', () => {
  assert.deepEqual(accessLogPolicyFromEnv({}), { mode: 'all', slowMs: 500 });
  assert.deepEqual(accessLogPolicyFromEnv({ ACCESS_LOG: 'errors', ACCESS_LOG_SLOW_MS: '250' }), { mode: 'errors', slowMs: 250 });
  assert.deepEqual(accessLogPolicyFromEnv({ ACCESS_LOG: 'errors', ACCESS_LOG_SLOW_MS: 'x' }), { mode: 'errors', slowMs: 500 });
  const errors = { mode: 'errors' as const, slowMs: 500 };
  assert.equal(wantsAccessLine(errors, 200, 3), false);
  assert.equal(wantsAccessLine(errors, 404, 3), false);
  assert.equal(wantsAccessLine(errors, 503, 3), true);
  assert.equal(wantsAccessLine(errors, 200, 500), true);
  assert.equal(wantsAccessLine({ mode: 'all', slowMs: 500 }, 200, 1), true);
});

test('When writeAccessLine is given a policy, then it writes under that policy', () => {
  const lines: string[] = [];
  const out = new Writable({
    write(c: Buffer, _e, cb) {
      lines.push(c.toString());
      cb();
    },
  });
  const access = accessLogger(pino(out));
  const entry = (status: number) => ({
    requestId: `r${status}`,
    method: 'GET',
    url: '/x',
    status,
    bytes: 2,
    ip: '10.0.0.1',
    user: 'alice',
    userAgent: 'ua',
    started: process.hrtime.bigint(),
  });
  writeAccessLine(access, entry(200), { mode: 'errors', slowMs: 500 });
  writeAccessLine(access, entry(500), { mode: 'errors', slowMs: 500 });
  writeAccessLine(access, entry(201), { mode: 'all', slowMs: 500 });
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).requestId),
    ['r500', 'r201'],
  );
});
