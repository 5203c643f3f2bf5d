/**
 * Deterministic fuzzing: a seeded PRNG (mulberry32) and the malformed values every fuzz suite draws from (odd JSON
 * scalars, broken JSON documents, odd content types). A run is replayed by its seed: draw values in the same order
 * (generate requests sequentially, even when they are sent concurrently) and the same requests come out.
 */
import { randomInt } from 'node:crypto';

/** mulberry32: tiny, fast, good enough for test input (not for secrets). Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FUZZ_SEED (an unsigned 32-bit integer) when set, else `fallback`, else a random one (print it, so a run can be replayed). */
export function fuzzSeed(fallback?: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FUZZ_SEED?.trim();
  if (raw) {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`FUZZ_SEED must be an integer from 0 to 4294967295, got ${JSON.stringify(raw)}`);
    return n;
  }
  return fallback ?? randomInt(0, 0xffffffff);
}

/** A seeded source of choices. */
export class Prng {
  readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** A value of `xs`, calling it when it is a generator. */
  draw<T>(xs: readonly (T | ((p: Prng) => T))[]): T {
    const x = this.pick(xs);
    return typeof x === 'function' ? (x as (p: Prng) => T)(this) : x;
  }
}

/** JSON values of the wrong type, size or shape for almost any field. No value here is a usable IP address or service name. */
export const ODD_SCALARS: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  1e308,
  -1e308,
  2147483648,
  2 ** 53 + 2,
  '',
  ' ',
  'a',
  '\u0000',
  '\ud800',
  '\u202e\u0301',
  'x'.repeat(70_000),
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '${jndi:ldap://x}',
  '../../etc/passwd',
  '%00',
  [],
  {},
  [1, 2],
  { a: 1 },
  JSON.parse('{"__proto__": {"polluted": true}}'),
  [[[[[[[[[[]]]]]]]]]],
];

/** Whole request bodies that are not valid JSON, or JSON of a shape no endpoint takes. */
export const BAD_JSON: readonly ((p: Prng) => string)[] = [
  () => '',
  () => '{',
  () => '}',
  () => '{"a": 1,',
  () => '{"a": 1,}',
  () => "{'a': 1}",
  () => '{"a": NaN}',
  () => '{"a": 1e999}',
  () => '{"a": 1} /* comment */',
  () => '{"a": 1}{"b": 2}',
  () => '{"a": "\\ud800"}',
  () => '{"a": "\\u00"}',
  () => '{"a": 1, "a": "dup"}',
  () => 'null',
  () => 'true',
  () => '"string"',
  () => '12345',
  () => '[]',
  () => '\ufeff{"a": 1}',
  () => '\u00ff\u00fe garbage',
  () => '\u0000\u0000\u0000',
  () => '{"__proto__": {"isStaff": true, "is_staff": true}}',
  () => '{"constructor": {"prototype": {"polluted": true}}}',
  (p) => '['.repeat(1000 + p.int(20_000)) + ']'.repeat(1000 + p.int(20_000)),
  (p) => '{"a":'.repeat(1000 + p.int(20_000)) + '1' + '}'.repeat(1000 + p.int(20_000)),
  (p) => JSON.stringify({ a: Array.from({ length: 1000 + p.int(20_000) }, (_, i) => i) }),
  (p) => JSON.stringify(Object.fromEntries(Array.from({ length: 1000 + p.int(5000) }, (_, i) => [`k${i}`, i]))),
];

/** A JSON document nested `depth` levels deep (arrays), as a string: deep enough to break recursive code. */
export const deepJson = (depth: number, leaf = '1'): string => '['.repeat(depth) + leaf + ']'.repeat(depth);

/** Content types a JSON endpoint may see: right, almost right, wrong, empty. */
export const CONTENT_TYPES: readonly string[] = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/json;;;',
  'APPLICATION/JSON',
  'application/merge-patch+json',
  'text/plain',
  'text/html',
  'application/xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'multipart/form-data',
  'application/octet-stream',
  'application/jsonx',
  '*/*',
  'x',
  '',
];
