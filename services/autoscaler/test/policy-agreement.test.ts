/**
 * Autoscale bounds and cooldown are written three times: the stack labels the autoscaler enforces
 * (docker-stack.yml `deploy.labels`), `autoscale` of configs/alerts/sla-rules.yml (the alert side: re-post interval,
 * Alertmanager's repeat_interval, provisioning checks) and the code default of a label left out. Nothing but this
 * test keeps them equal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { DEFAULT_AUTOSCALE_COOLDOWN_SECONDS, loadSlaRules } from '@forum/shared/sla-rules';
import { isEnabled, parsePolicy } from '../src/policy.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const rules = loadSlaRules(join(ROOT, 'configs', 'alerts', 'sla-rules.yml'));
const stack = parse(readFileSync(join(ROOT, 'docker-stack.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { deploy?: { labels?: Record<string, string | number> } }>;
};

/** A label as `docker stack deploy` sees it with no variable set: `${VAR:-default}` is its default. */
const unset = (v: string | number) => String(v).replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1');

const autoscaled = Object.entries(stack.services)
  .map(([name, s]) => [name, Object.fromEntries(Object.entries(s.deploy?.labels ?? {}).map(([k, v]) => [k, unset(v)]))] as const)
  .filter(([, labels]) => isEnabled(labels, 'autoscale'));

test('When the stack opts services into autoscaling, then sla-rules.yml bounds exactly those services', () => {
  assert.deepEqual(autoscaled.map(([name]) => name).sort(), Object.keys(rules.autoscale.services).sort());
  for (const r of rules.autoscale.rules) assert.ok(rules.autoscale.services[r.service], `scale rule ${r.id} names ${r.service}`);
});

test('When a service is autoscaled, then its stack labels carry the bounds and cooldown of sla-rules.yml', () => {
  for (const [name, labels] of autoscaled) {
    const { policy, problems } = parsePolicy(labels, 'autoscale');
    assert.deepEqual(problems, [], name);
    assert.deepEqual(
      { service: name, min: policy!.min, max: policy!.max, cooldownSeconds: policy!.cooldownSeconds },
      { service: name, ...rules.autoscale.services[name], cooldownSeconds: rules.autoscale.cooldownSeconds },
    );
  }
});

test('When a stack leaves the cooldown label out, then the code default is the cooldown of sla-rules.yml', () => {
  assert.equal(DEFAULT_AUTOSCALE_COOLDOWN_SECONDS, rules.autoscale.cooldownSeconds);
  assert.equal(parsePolicy({ 'autoscale.max': '2' }, 'autoscale').policy?.cooldownSeconds, rules.autoscale.cooldownSeconds);
});
