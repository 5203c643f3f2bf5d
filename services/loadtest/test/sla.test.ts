import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateSla, type SlaInput } from '../src/sla.js';

const base: SlaInput = {
  readP95Ms: 40,
  writeP95Ms: 120,
  requests: 10_000,
  failures: 5,
  durationS: 900,
  peakOpsPerS: 55,
  peakUsers: 1500,
  minNginxReplicas: 3,
  minApiReplicas: 3,
};

test('When the seed run is fast and clean, then the SLA and the capacity goal pass', () => {
  const v = evaluateSla(base);
  assert.equal(v.pass, true);
  assert.equal(v.capacity.pass, true);
  assert.ok(
    v.rows.every((r) => r.pass === true),
    JSON.stringify(v.rows),
  );
});

test('When GET p95 reaches 40 s, then the SLA fails on that row', () => {
  const v = evaluateSla({ ...base, readP95Ms: 40_000 });
  assert.equal(v.pass, false);
  assert.equal(v.rows.find((r) => r.objective.includes('GET'))!.pass, false);
});

test('When POST/PATCH p95 is 50 s or more, then the SLA fails', () => {
  assert.equal(evaluateSla({ ...base, writeP95Ms: 50_000 }).pass, false);
  assert.equal(evaluateSla({ ...base, writeP95Ms: 49_999 }).pass, true);
});

test('When 8 % of requests fail, then the API error objective (7.5 %) fails while the whole-service one (10 %) holds', () => {
  const v = evaluateSla({ ...base, failures: 800 });
  assert.equal(v.rows.find((r) => r.objective === 'forum API: errors')!.pass, false);
  assert.equal(v.rows.find((r) => r.objective === 'whole service: error rate')!.pass, true);
  assert.equal(v.pass, false);
  assert.equal(v.capacity.pass, false);
});

test('When each NGINX gets over 100 req/s or an API instance over 1500 clients, then the SLA fails', () => {
  assert.equal(evaluateSla({ ...base, peakOpsPerS: 301 }).pass, false);
  assert.equal(evaluateSla({ ...base, peakUsers: 4501, minNginxReplicas: 10 }).pass, false);
});

test('When replicas were not sampled, then those rows are n/a and do not decide the verdict', () => {
  const v = evaluateSla({ ...base, minNginxReplicas: null, minApiReplicas: null });
  assert.equal(v.pass, true);
  assert.equal(v.rows.filter((r) => r.pass === null).length, 2);
});

test('When read p95 is 150 ms, then the SLA holds but the capacity goal fails', () => {
  const v = evaluateSla({ ...base, readP95Ms: 150 });
  assert.equal(v.pass, true);
  assert.equal(v.capacity.pass, false);
});

test('When no request was made, then nothing passes', () => {
  const v = evaluateSla({ ...base, requests: 0, failures: 0, readP95Ms: null, writeP95Ms: null, minNginxReplicas: null, minApiReplicas: null });
  assert.equal(v.pass, false);
});
