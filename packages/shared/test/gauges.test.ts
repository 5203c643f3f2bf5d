import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callbackGauges, promClient } from '@forum/shared';

test('When metrics are scraped, then callbackGauges reads each callback at that time', async () => {
  const registry = new promClient.Registry();
  let n = 1;
  callbackGauges(registry, [
    ['t_buffered', 'Items waiting', () => n],
    ['t_dropped_total', 'Items dropped', () => n * 10],
  ]);
  n = 3;
  const text = await registry.metrics();
  assert.match(text, /^t_buffered 3$/m);
  assert.match(text, /^t_dropped_total 30$/m);
  assert.match(text, /# HELP t_buffered Items waiting/);
});
