// With no API replica the edge answers a clean JSON 503, and it follows the API back when replicas return.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE_URL, STACK, docker, until } from './support.js';

test('When no API replica runs, then the edge answers JSON 503; when they come back, then the recovery is followed', { timeout: 240_000 }, async () => {
  const svc = `${STACK}_api`;
  const replicas = Number((await docker('service', 'inspect', svc, '--format', '{{.Spec.Mode.Replicated.Replicas}}')).trim());
  await docker('service', 'scale', '--detach', `${svc}=0`);
  try {
    const r = await until(
      'a 503 from the edge',
      async () => {
        const res = await fetch(`${EDGE_URL}/api/threads/`, { signal: AbortSignal.timeout(10_000) });
        const text = await res.text();
        return res.status === 503 ? { res, text } : undefined;
      },
      60_000,
    );
    assert.match(r.res.headers.get('content-type') ?? '', /application\/json/);
    const body = JSON.parse(r.text);
    assert.equal(body.code, 'service_unavailable');
    assert.ok(body.detail);
    assert.equal(r.res.headers.get('retry-after'), '5');
  } finally {
    await docker('service', 'scale', '--detach', `${svc}=${replicas || 3}`);
  }
  await until(
    'the API back through the edge',
    async () => {
      const res = await fetch(`${EDGE_URL}/api/threads/`, { signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      return res.status === 200;
    },
    180_000,
    1000,
  );
  await until(
    'all API replicas healthy again',
    async () => {
      const reps = (await docker('service', 'ls', '--filter', `name=${svc}`, '--format', '{{.Replicas}}')).trim();
      return reps === `${replicas}/${replicas}`;
    },
    180_000,
    1000,
  );
});
