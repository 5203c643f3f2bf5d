import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nameStatement, statementName } from '../src/db.js';

// The naming rule only: services/forum-api/test/api.test.ts drives it against a real PostgreSQL (every query of
// the API goes through it), and the prepared-statement count below is checked there too.

test('When a statement has parameters, then it goes out named, one stable name per SQL text', () => {
  const named = new Set<string>();
  const [a] = nameStatement(['SELECT * FROM threads WHERE id = $1', [7]], named) as [{ name: string; text: string }];
  const [b] = nameStatement(['SELECT * FROM threads WHERE id = $1', [8]], named) as [{ name: string; text: string }];
  const [c] = nameStatement(['SELECT * FROM posts WHERE id = $1', [7]], named) as [{ name: string }];
  assert.equal(a.text, 'SELECT * FROM threads WHERE id = $1');
  assert.equal(a.name, b.name);
  assert.notEqual(a.name, c.name);
  assert.equal(a.name, statementName('SELECT * FROM threads WHERE id = $1'));
  assert.equal(named.size, 2);
});

test('When a statement has no parameters, is already named or uses a callback, then it stays as it is', () => {
  const named = new Set<string>();
  const cb = () => undefined;
  assert.deepEqual(nameStatement(['BEGIN'], named), ['BEGIN']);
  assert.deepEqual(nameStatement(['SELECT 1', []], named), ['SELECT 1', []]);
  const own = { name: 'mine', text: 'SELECT $1::int', values: [1] };
  assert.equal(nameStatement([own], named)[0], own);
  const withCb = nameStatement(['SELECT $1::int', [1], cb], named);
  assert.equal(withCb[2], cb);
  const cfg = nameStatement([{ text: 'SELECT $1::int AS x', values: [1], rowMode: 'array' }], named)[0] as Record<string, unknown>;
  assert.equal(cfg.rowMode, 'array');
  assert.deepEqual(cfg.values, [1]);
  assert.match(String(cfg.name), /^f_/);
});

test('When a connection has named 256 texts, then it names no new ones, so SQL built from data cannot pile up statements', () => {
  const named = new Set<string>();
  for (let i = 0; i < 300; i++) nameStatement([`SELECT $1::int + ${i}`, [1]], named);
  assert.equal(named.size, 256);
  const [late] = nameStatement(['SELECT $1::int + 299', [1]], named);
  assert.equal(late, 'SELECT $1::int + 299');
  const [known] = nameStatement(['SELECT $1::int + 0', [1]], named) as [{ name: string }];
  assert.match(known.name, /^f_/);
});
