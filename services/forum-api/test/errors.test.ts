// How database failures are classified: retried (reads) and answered 503, never 500. The error below is the one
// pgpool sent (through pg) for a guest's read when the PostgreSQL primary was killed under load (a fault run
// of 2026-12-01: `unable to read data from DB node 0`, severity FATAL, code XX000); it had become a 500.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '@forum/shared';
import { dependencyErrors } from '../src/app.js';
import { isConnectionLoss } from '../src/db.js';

function pgpoolLostBackend(): Error {
  return Object.assign(new Error('unable to read data from DB node 0'), {
    severity: 'FATAL',
    code: 'XX000',
    detail: 'EOF encountered with backend',
  });
}

function classify(err: unknown): unknown {
  let out: unknown;
  dependencyErrors(err, {} as Request, {} as Response, ((e?: unknown) => (out = e)) as NextFunction);
  return out;
}

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

test('When the error is not a dependency failure, then it is passed on unchanged (500 stays 500)', () => {
  const bug = new TypeError('undefined is not a function');
  assert.equal(classify(bug), bug);
});
