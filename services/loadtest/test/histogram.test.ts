import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram } from '../src/histogram.js';
import { prng } from '../src/scenario.js';

function exact(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

test('When latencies from a long-tailed distribution are recorded, then p50/p95/p99 are within 2 % of the exact values', () => {
  const rand = prng(1);
  const h = new Histogram();
  const xs: number[] = [];
  for (let i = 0; i < 200_000; i++) {
    const v = 2 + -Math.log(1 - rand()) * 15 + (rand() < 0.01 ? 2000 * rand() : 0);
    xs.push(v);
    h.record(v);
  }
  xs.sort((a, b) => a - b);
  for (const p of [50, 90, 95, 99, 99.9]) {
    const got = h.percentile(p)!;
    const want = exact(xs, p);
    assert.ok(Math.abs(got - want) / want < 0.02, `p${p}: ${got} vs ${want}`);
  }
  assert.equal(h.min, xs[0]);
  assert.equal(h.max, xs.at(-1));
  assert.equal(h.count, xs.length);
});

test('When nothing was recorded, then percentiles are null; one value is its own percentile', () => {
  const h = new Histogram();
  assert.equal(h.percentile(95), null);
  h.record(123.4);
  assert.equal(h.percentile(50), 123.4);
  assert.equal(h.percentile(99), 123.4);
});

test('When two histograms are merged, then counts, min and max combine', () => {
  const a = new Histogram(),
    b = new Histogram();
  for (let i = 1; i <= 100; i++) a.record(i);
  for (let i = 1001; i <= 1100; i++) b.record(i);
  a.merge(b);
  assert.equal(a.count, 200);
  assert.equal(a.min, 1);
  assert.equal(a.max, 1100);
  assert.ok(Math.abs(a.percentile(50)! - 100) / 100 < 0.02);
});
