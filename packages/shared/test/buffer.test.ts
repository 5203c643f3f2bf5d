import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedBuffer, BufferedWriter } from '@forum/shared';

test('When a BoundedBuffer is full, then it drops the oldest and counts them', () => {
  const b = new BoundedBuffer<number>(3);
  b.push(1, 2, 3, 4, 5);
  assert.equal(b.dropped, 2);
  assert.equal(b.size, 3);
  assert.deepEqual(b.take(10), [3, 4, 5]);
  b.push(7, 8);
  b.unshift([1, 2]); // a failed batch goes back to the head; overflow still drops the oldest
  assert.equal(b.dropped, 3);
  assert.deepEqual(b.take(10), [2, 7, 8]);
  assert.equal(b.size, 0);
});

class Sink extends BufferedWriter<number> {
  readonly stats = { buffered: 0, dropped: 0 };
  sent: number[][] = [];
  calls = 0;
  fail = false;
  release?: () => void;
  constructor(capacity: number) {
    super({ capacity, flushIntervalMs: 10, unrefTimer: true });
  }
  add(...xs: number[]): void {
    this.buffer.push(...xs);
    this.refresh();
  }
  protected async doFlush(): Promise<void> {
    this.calls += 1;
    await new Promise<void>((r) => (this.release = r));
    while (this.buffer.size > 0) {
      const batch = this.buffer.take(2);
      if (this.fail) {
        this.buffer.unshift(batch);
        return;
      }
      this.sent.push(batch);
    }
  }
}

test('When BufferedWriter flushes overlap, then one flush runs at a time and the stats follow the buffer', async () => {
  const w = new Sink(3);
  w.add(1, 2, 3, 4);
  assert.deepEqual(w.stats, { buffered: 3, dropped: 1 });
  const a = w.flush();
  const b = w.flush();
  assert.equal(a, b);
  assert.equal(w.calls, 1);
  w.release!();
  await a;
  assert.deepEqual(w.sent, [[2, 3], [4]]);
  assert.deepEqual(w.stats, { buffered: 0, dropped: 1 });

  w.fail = true;
  w.add(5, 6, 7);
  const c = w.flush();
  assert.notEqual(c, a);
  w.release!();
  await c;
  assert.deepEqual(w.stats, { buffered: 3, dropped: 1 }, 'a failed batch stays queued');
});

test('When a BufferedWriter is started, then it flushes periodically, and stop() flushes what is left', async () => {
  const w = new Sink(10);
  w.add(1);
  w.start();
  w.start(); // idempotent
  const deadline = Date.now() + 2000;
  while (w.calls === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(w.calls >= 1, 'the timer flushed');
  w.release!();
  w.add(2);
  const stopped = w.stop();
  // stop() waits for the running flush or starts one; release whichever is pending
  const until = Date.now() + 2000;
  let done = false;
  void stopped.then(() => (done = true));
  while (!done && Date.now() < until) {
    w.release?.();
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(done);
  assert.equal(w.stats.buffered, 0);
  assert.deepEqual(w.sent.flat(), [1, 2]);
});
