// A webhook body that names its target with something other than a string is answered 400 naming the field, never
// 500: the edge fuzz found a `service` of 10,000 nested arrays, whose JSON.stringify (for the message) overflowed
// the stack. The value is parsed the way express.json parses the body (JSON.parse), not built by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '@forum/shared';
import { parseDirection, parseServiceName } from '../src/hooks.js';

const deep = JSON.parse(`{"service": ${'['.repeat(10_000)}${']'.repeat(10_000)}}`) as { service: unknown };

test('When a webhook names its service with 10,000 nested arrays, then it is refused 400 invalid_service, not a stack overflow', () => {
  assert.throws(
    () => parseServiceName(deep.service, 'body'),
    (err: unknown) => err instanceof AppError && err.status === 400 && err.code === 'invalid_service' && /got an array\./.test(err.detail),
  );
});

test('When a webhook names a direction with a long string, then the 400 quotes only its start', () => {
  assert.throws(
    () => parseDirection('x'.repeat(10_000), 'body'),
    (err: unknown) => err instanceof AppError && err.status === 400 && err.detail.length < 200,
  );
});
