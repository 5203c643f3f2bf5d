import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { boundPasswordWork, hashPassword, verifyPassword, WorkGate } from '../src/passwords.js';

// The bound on argon2 work (passwords.ts), with the real argon2 binding.
after(() => boundPasswordWork(2, 64)); // the module's defaults for any later test in this process

test('When 20 verifications arrive at once with 2 allowed at a time and 5 waiting, then 7 are checked and 13 answered 503 with Retry-After at once', async () => {
  const hash = await hashPassword('correct horse');
  boundPasswordWork(2, 5);
  const started = Date.now();
  const results = await Promise.allSettled(Array.from({ length: 20 }, () => verifyPassword(hash, 'wrong guess')));
  const ok = results.filter((r) => r.status === 'fulfilled');
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.equal(ok.length, 7);
  assert.ok(ok.every((r) => (r as PromiseFulfilledResult<boolean>).value === false));
  assert.equal(refused.length, 13);
  for (const r of refused) {
    assert.equal(r.reason.status, 503);
    assert.equal(r.reason.code, 'password_work_busy');
    assert.equal(r.reason.extra.retryAfter, 1);
  }
  process.stdout.write(`# 20 at once: 7 verified, 13 refused, ${Date.now() - started} ms\n`);
  // the gate is free again afterwards: the right password still verifies
  assert.equal(await verifyPassword(hash, 'correct horse'), true);
});

test('When tasks pass through the gate, then no more than its limit run at once and every waiter runs in turn', async () => {
  const gate = new WorkGate(3, 100);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      gate.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 2));
        order.push(i);
        running--;
      }),
    ),
  );
  assert.equal(peak, 3);
  assert.equal(order.length, 30);
  assert.deepEqual(gate.stats, { running: 0, waiting: 0 });
});

test('When the work throws, then its slot is freed for the next', async () => {
  const gate = new WorkGate(1, 10);
  await assert.rejects(
    gate.run(() => Promise.reject(new Error('boom'))),
    /boom/,
  );
  assert.equal(await gate.run(async () => 'next'), 'next');
  assert.deepEqual(gate.stats, { running: 0, waiting: 0 });
});
