import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { postHoldingFloodSlot, redisFloodSlots, type FloodSlots } from '../src/flood.js';
import type { Redis } from '../src/redis.js';

/** An in-memory slot store that records what it was asked. */
function slots(taken = false): FloodSlots & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async take(userId) {
      calls.push(`take ${userId}`);
      return !taken;
    },
    async giveBack(userId) {
      calls.push(`giveBack ${userId}`);
    },
  };
}

describe('postHoldingFloodSlot', () => {
  test('When the user posted too recently, then the answer is 403 flood and nothing is written', async () => {
    const s = slots(true);
    let wrote = false;
    await assert.rejects(
      postHoldingFloodSlot(
        s,
        5,
        async () => (wrote = true),
        () => true,
      ),
      (err: { status?: number; code?: string; message?: string }) =>
        err.status === 403 && err.code === 'flood' && err.message === "You can't post message so quickly after previous one.",
    );
    assert.equal(wrote, false);
    assert.deepEqual(s.calls, ['take 5']);
  });
  test('When the post is written, then the slot stays taken', async () => {
    const s = slots();
    assert.equal(
      await postHoldingFloodSlot(
        s,
        5,
        async () => 'post',
        () => true,
      ),
      'post',
    );
    assert.deepEqual(s.calls, ['take 5']);
  });
  test('When the write wrote nothing, then the slot is given back and the result returned', async () => {
    const s = slots();
    assert.equal(
      await postHoldingFloodSlot(
        s,
        5,
        async () => null,
        (r) => r !== null,
      ),
      null,
    );
    assert.deepEqual(s.calls, ['take 5', 'giveBack 5']);
  });
  test('When the write fails, then the slot is given back and the error passes through', async () => {
    const s = slots();
    await assert.rejects(
      postHoldingFloodSlot(
        s,
        5,
        async () => {
          throw new Error('boom');
        },
        () => true,
      ),
      /boom/,
    );
    assert.deepEqual(s.calls, ['take 5', 'giveBack 5']);
  });
});

describe('redisFloodSlots', () => {
  const silent = pino({ level: 'silent' });
  test('When Redis fails, then the slot is granted (flooding fails open) and giving it back does not throw', async () => {
    const down = { set: () => Promise.reject(new Error('down')), del: () => Promise.reject(new Error('down')) } as unknown as Redis;
    const s = redisFloodSlots(down, 3000, silent);
    assert.equal(await s.take(5), true);
    await s.giveBack(5);
  });
  test('When the interval is 0, then Redis is never asked', async () => {
    const asked: string[] = [];
    const spy = { set: () => asked.push('set'), del: () => asked.push('del') } as unknown as Redis;
    const s = redisFloodSlots(spy, 0, silent);
    assert.equal(await s.take(5), true);
    await s.giveBack(5);
    assert.deepEqual(asked, []);
  });
  test('When the key is already set, then the slot is refused', async () => {
    const keys: string[] = [];
    const redis = { set: async (k: string) => (keys.includes(k) ? null : (keys.push(k), 'OK')) } as unknown as Redis;
    const s = redisFloodSlots(redis, 3000, silent);
    assert.equal(await s.take(5), true);
    assert.equal(await s.take(5), false);
    assert.deepEqual(keys, ['flood:5']);
  });
});
