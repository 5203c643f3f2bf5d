// How database failures are classified: retried (reads) and answered 503, never 500. The error below is the one
// pgpool sent (through pg) for a guest's read when the PostgreSQL primary was killed under load (a fault run
// of 2026-12-01: `unable to read data from DB node 0`, severity FATAL, code XX000); it had become a 500.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppError, dependencyError, isConnectionLoss } from '@forum/shared';

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

test('When pgpool loses the backend under a statement, then the request is answered 503, not 500', () => {
  const out = classify(pgpoolLostBackend());
  assert.ok(out instanceof AppError, String(out));
  assert.equal(out.status, 503);
  assert.equal(out.code, 'service_unavailable');
});

test('When the error is not a dependency failure, then it is not mapped (500 stays 500)', () => {
  assert.equal(classify(new TypeError('undefined is not a function')), undefined);
});
