import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../../test/edge/lib/harness.js';
import { ipblockSuite } from './suite.js';

// an event written BEFORE ipblock ever ran must still count (first deploy, ipblock restarting)
const w = ipblockSuite({ beforeStart: () => emit('198.51.100.23') });

// the exact entry the API appends (docs/CONVENTIONS.md "Security events")
const emit = (ip: string, at = new Date().toISOString()) =>
  w.redis.cli('XADD', 'security:events', '*', 'type', 'login_bruteforce', 'ip', ip, 'failures', '8', 'windowSeconds', '30', 'at', at);

const listed = async (ip: string) => (await w.svc.api('GET', '/v1/blocks')).json.blocks.find((b: { ip: string }) => b.ip === ip);

test('When the API emits login_bruteforce, then ipblock blocks that IP within 2 s for the default hour and tells Slack', async () => {
  const t = Date.now();
  emit('203.0.113.31');
  const block = await waitFor('block from stream', () => listed('203.0.113.31'), 2000, 20);
  assert.ok(Date.now() - t < 2000);
  assert.equal(block.source, 'api-event');
  assert.match(block.reason, /login_bruteforce: 8 failed logins in 30 s/);
  const ttl = Date.parse(block.expiresAt) - Date.parse(block.createdAt);
  assert.ok(ttl > 3590_000 && ttl <= 3600_000, String(ttl));
  await waitFor('slack', () => w.slack.messages.some((m) => m.text.includes('203.0.113.31')));
});

test('When the event predates ipblock, then it is still applied (group reads from the stream start)', async () => {
  assert.ok(await waitFor('old event', () => listed('198.51.100.23'), 3000));
});

test('When an event names a private, malformed or stale IP, or another type, then nothing is blocked and all are acknowledged', async () => {
  const before = (await w.svc.api('GET', '/v1/blocks')).json.version;
  emit('10.0.0.7');
  emit('not-an-ip');
  emit('203.0.113.77', new Date(Date.now() - 2 * 3600_000).toISOString());
  w.redis.cli('XADD', 'security:events', '*', 'type', 'login_ok', 'ip', '203.0.113.78');
  emit('203.0.113.32'); // a marker written last: once it is blocked, the ones before were handled
  await waitFor('marker', () => listed('203.0.113.32'), 3000);
  const after = await w.svc.api('GET', '/v1/blocks');
  assert.equal(after.json.version, before + 1, 'only the marker changed the list');
  for (const ip of ['10.0.0.7', '203.0.113.77', '203.0.113.78']) assert.equal(await listed(ip), undefined, ip);
  await waitFor('all acknowledged', () => /^0\b/.test(w.redis.cli('XPENDING', 'security:events', 'ipblock').split('\n')[0]), 3000);
  assert.ok(w.svc.output().includes('login_bruteforce not blocked'));
});

test('When ipblock restarts, then events emitted while it was down are applied', async () => {
  await w.restart(0, () => emit('203.0.113.33'));
  assert.ok(await waitFor('block after restart', () => listed('203.0.113.33'), 3000));
});
