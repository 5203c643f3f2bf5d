// How database failures are classified: retried (reads) and answered 503, never 500. The error below is the one
// pgpool sent (through pg) for a guest's read when the PostgreSQL primary was killed under load (a fault run
// of 2026-12-01: `unable to read data from DB node 0`, severity FATAL, code XX000); it had become a 500.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { AppError, dependencyError, isConnectionLoss } from '@forum/shared';
import { whileNothingDone } from '../src/db.js';

function pgpoolLostBackend(): Error {
  return Object.assign(new Error('unable to read data from DB node 0'), {
    severity: 'FATAL',
    code: 'XX000',
    detail: 'EOF encountered with backend',
  });
}

// forum-api declares both of its backing services (app.ts)
const classify = (err: unknown) => dependencyError(err, ['postgres', 'redis']);

test('When pgpool loses the backend under a statement, then it counts as a connection loss (a read is retried)', () => {
  assert.equal(isConnectionLoss(pgpoolLostBackend()), true);
  assert.equal(isConnectionLoss(Object.assign(new Error('x'), { detail: 'y', code: 'XX000' })), false, 'other XX000 errors are not');
});

test('When pgpool fails to read from a backend that stopped, then it counts as a connection loss', () => {
  assert.equal(isConnectionLoss(Object.assign(new Error('failed to read kind from backend'), { code: 'XX000' })), true);
});

test('When pgpool loses the backend under a statement, then the request is answered 503, not 500', () => {
  const out = classify(pgpoolLostBackend());
  assert.ok(out instanceof AppError, String(out));
  assert.equal(out.status, 503);
  assert.equal(out.code, 'service_unavailable');
});

test('When the error is not a dependency failure, then it is not mapped (500 stays 500)', () => {
  assert.equal(classify(new TypeError('undefined is not a function')), undefined);
});

// The write retry policy (db.ts, whileNothingDone): a write is sent again only when it did nothing.
const readOnly = () => Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' });
/** an attempt that fails with each error in turn, then answers 'written'; counts its calls */
function attempts(...errors: Error[]) {
  const f = async () => {
    f.calls++;
    const e = errors.shift();
    if (e) throw e;
    return 'written';
  };
  f.calls = 0;
  return f;
}

// this one first: a read-only refusal marks the primary as stopping for this process for 30 s (STOPPING_PRIMARY_MS)
test('When a write loses its connection under the statement with no read-only refusal before, then it is not sent again (it may have committed)', async () => {
  const lost = pgpoolLostBackend();
  const f = attempts(lost);
  await assert.rejects(whileNothingDone(f), (err) => err === lost);
  assert.equal(f.calls, 1);
});

test('When a write is refused as read-only and its stopping primary then ends the session, then it is sent again and lands', async () => {
  const f = attempts(readOnly(), pgpoolLostBackend());
  assert.equal(await whileNothingDone(f), 'written');
  assert.equal(f.calls, 3);
});

// The real driver's error, not a hand-made one: node-postgres connecting to a name that does not resolve (a drained
// node's pg-N leaves Docker's DNS while the api still lists it; `.invalid` never resolves, RFC 2606). In the
// cluster's maintenance drill DirectNodes.read rethrew it when no member answered, and the read became a 500.
test('When a PostgreSQL member name does not resolve, then the read is answered 503 and counts as a connection loss', async () => {
  const pool = new pg.Pool({ host: 'pg-9.forum.invalid', port: 5432, user: 'forum', database: 'forum', connectionTimeoutMillis: 3000 });
  pool.on('error', () => undefined);
  const err = await pool.query('SELECT 1').then(
    () => undefined,
    (e: unknown) => e,
  );
  await pool.end();
  assert.ok(err, 'the query must fail');
  assert.match(String((err as { code?: string }).code), /^(ENOTFOUND|EAI_AGAIN)$/, `a DNS failure, not ${String(err)}`);
  assert.equal(isConnectionLoss(err), true);
  const out = classify(err);
  assert.ok(out instanceof AppError);
  assert.equal(out.status, 503);
  assert.equal(out.code, 'service_unavailable');
});
