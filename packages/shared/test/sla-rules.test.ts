import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadSlaRules, parseSlaRules, requireCompleteSlaRules, slaRuleList } from '@forum/shared/sla-rules';

const SHIPPED = fileURLToPath(new URL('../../../configs/alerts/sla-rules.yml', import.meta.url));

test('When the shipped sla-rules.yml is read, then it is valid and complete', () => {
  const f = requireCompleteSlaRules(loadSlaRules(SHIPPED), SHIPPED);
  const all = slaRuleList(f);
  assert.ok(all.length > f.alerts.length);
  const up = all.find((r) => r.id === 'nginx_scale_up');
  assert.equal(up?.kind, 'autoscale');
  assert.deepEqual(up?.scale, { service: 'nginx', direction: 'up' });
  for (const r of all.filter((x) => x.kind === 'alert')) assert.equal(r.scale, undefined);
  assert.match(readFileSync(SHIPPED, 'utf8'), /^version: 1$/m);
});

const MINIMAL = `version: 1
defaults: { period: 4s, every: 1s }
autoscale:
  rules:
    - { id: web_up, service: web, direction: up, measurement: nginx, value: { select: 'mean("active")' }, op: ">", warn: 50, notify: [slack, autoscaler] }
`;

test('When a file is partial, then it takes the documented defaults; overrides apply per rule', () => {
  const f = parseSlaRules(MINIMAL, 'min.yml');
  assert.deepEqual(f.influx, { database: 'telegraf', retentionPolicy: 'autogen' });
  assert.equal(f.autoscale.cooldownSeconds, 300);
  const [r] = slaRuleList(f, { web_up: { warn: 5, bucket: '2s' } });
  assert.equal(r.period, '4s');
  assert.equal(r.bucket, '2s');
  assert.equal(r.reduce, 'mean');
  assert.equal(r.hysteresis, 0.1);
  assert.equal(r.warn, 5);
  assert.equal(r.description, '');
  assert.throws(() => slaRuleList(f, { nope: { warn: 1 } }), /override for unknown rule nope/);
  assert.throws(() => requireCompleteSlaRules(f, 'min.yml'), /min\.yml is invalid:[^]*bruteforce is required[^]*web_up names service web without bounds/);
});

test('When a file is invalid, then it is refused with every problem named', () => {
  assert.throws(() => parseSlaRules('version: 2\n', 'x.yml'), /x\.yml is invalid:[^]*version/);
  assert.throws(() => parseSlaRules('version: 1\nbogus: 1\n', 'x.yml'), /Unrecognized key/);
  assert.throws(() => parseSlaRules('version: [1\n', 'x.yml'), /^Error: x\.yml: /);
  const dup = MINIMAL + "    - { id: web_up, service: web, direction: down, measurement: nginx, value: { select: 'x' }, op: '<', warn: 5, crit: 9 }\n";
  assert.throws(() => parseSlaRules(dup, 'd.yml'), /duplicate rule id web_up[^]*rule web_up: crit must be beyond warn/);
  assert.throws(
    () => parseSlaRules("version: 1\nalerts:\n  - { id: a, service: s, measurement: 'bad name', value: { select: 'x' }, op: '>', warn: 1 }\n"),
    /alerts\.0\.measurement: measurement must be a plain name/,
  );
});
