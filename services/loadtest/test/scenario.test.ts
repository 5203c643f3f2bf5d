import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACTIONS, isAuthUser, MIX, pickAction, prng } from '../src/scenario.js';

test('When 1,000,000 operations are drawn, then the action mix is 75/7/5/3/3/3/3/1 within 0.2 points', () => {
  const rand = prng(7);
  const counts = new Map<string, number>();
  const n = 1_000_000;
  for (let i = 0; i < n; i++) {
    const a = pickAction(rand());
    counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  assert.deepEqual(
    [...ACTIONS].map((a) => MIX[a]),
    [75, 7, 5, 3, 3, 3, 3, 1],
  );
  for (const a of ACTIONS) {
    const pct = (100 * (counts.get(a) ?? 0)) / n;
    assert.ok(Math.abs(pct - MIX[a]) < 0.2, `${a}: ${pct.toFixed(2)} % vs ${MIX[a]} %`);
  }
});

test('When the edges of [0,1) are drawn, then each maps to the right action', () => {
  assert.equal(pickAction(0), 'read thread');
  assert.equal(pickAction(0.7499), 'read thread');
  assert.equal(pickAction(0.75), 'reply');
  assert.equal(pickAction(0.8201), 'start thread');
  assert.equal(pickAction(0.8699), 'start thread');
  assert.equal(pickAction(0.9999999), 'list mine');
});

test('When users ramp up, then exactly 15 % of every prefix of them log in', () => {
  for (const n of [20, 100, 1500, 30_000]) {
    let auth = 0;
    for (let i = 0; i < n; i++) if (isAuthUser(i)) auth++;
    assert.equal(auth, Math.floor(n * 0.15), `n=${n}`);
  }
});

test('When the same seed is used twice, then the random sequence repeats', () => {
  const a = prng(42),
    b = prng(42),
    c = prng(43);
  const sa = Array.from({ length: 5 }, a),
    sb = Array.from({ length: 5 }, b),
    sc = Array.from({ length: 5 }, c);
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  assert.ok(sa.every((v) => v >= 0 && v < 1));
});
