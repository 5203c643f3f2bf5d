import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cooldownLeftMs, isEnabled, parseDuration, parseLastChange, parsePolicy, stateLabels, targetReplicas, type Policy } from '../src/policy.js';

const P = 'autoscale';
const policy: Policy = { min: 2, max: 6, step: 2, cooldownSeconds: 300 };

test('When the enabled label says true, 1 or yes (any case, spaces around), then the service is opted in; otherwise not', () => {
  for (const v of ['true', 'TRUE', ' yes ', '1']) assert.equal(isEnabled({ 'autoscale.enabled': v }, P), true, v);
  for (const v of ['false', '0', 'no', '', 'on']) assert.equal(isEnabled({ 'autoscale.enabled': v }, P), false, v);
  assert.equal(isEnabled(undefined, P), false);
  assert.equal(isEnabled({ 'other.enabled': 'true' }, 'other'), true, 'the prefix is configurable');
});

test('When a duration is written as seconds, minutes or hours, then it is read as seconds; anything else is undefined', () => {
  assert.equal(parseDuration('300'), 300);
  assert.equal(parseDuration('300s'), 300);
  assert.equal(parseDuration(' 5m '), 300);
  assert.equal(parseDuration('1H'), 3600);
  for (const bad of ['', '5 minutes', '-1', '1.5m', 'ten']) assert.equal(parseDuration(bad), undefined, bad);
});

test('When only max is set, then min, step and cooldown take their defaults', () => {
  assert.deepEqual(parsePolicy({ 'autoscale.max': '4' }, P), { policy: { min: 1, max: 4, step: 1, cooldownSeconds: 300 }, problems: [] });
  assert.deepEqual(parsePolicy({ 'autoscale.min': ' 2 ', 'autoscale.max': '6', 'autoscale.step': '2', 'autoscale.cooldown': '5m' }, P).policy, policy);
});

test('When labels are wrong, then no policy is returned and every problem is named at once', () => {
  const { policy: p, problems } = parsePolicy({ 'autoscale.min': '0', 'autoscale.step': 'two', 'autoscale.cooldown': 'soon' }, P);
  assert.equal(p, undefined);
  assert.deepEqual(problems, [
    'label autoscale.max is required',
    'label autoscale.step="two" is not a whole number',
    'label autoscale.cooldown="soon" is not a duration (e.g. 300, 300s, 5m)',
    'label autoscale.min must be >= 1 (got 0)',
  ]);
  assert.deepEqual(parsePolicy({ 'autoscale.min': '5', 'autoscale.max': '3' }, P).problems, ['label autoscale.max (3) must be >= autoscale.min (5)']);
  assert.deepEqual(parsePolicy({ 'autoscale.max': '3', 'autoscale.step': '0' }, P).problems, ['label autoscale.step must be >= 1 (got 0)']);
});

test('When a service scales, then it moves one step towards the bound and never past it', () => {
  assert.equal(targetReplicas(2, 'up', policy), 4);
  assert.equal(targetReplicas(5, 'up', policy), 6, 'clamped at max');
  assert.equal(targetReplicas(6, 'up', policy), 6, 'at max: unchanged');
  assert.equal(targetReplicas(9, 'up', policy), 9, 'beyond max (scaled by hand): unchanged, never lowered by an up');
  assert.equal(targetReplicas(6, 'down', policy), 4);
  assert.equal(targetReplicas(3, 'down', policy), 2, 'clamped at min');
  assert.equal(targetReplicas(2, 'down', policy), 2, 'at min: unchanged');
  assert.equal(targetReplicas(1, 'down', policy), 1, 'below min: unchanged, never raised by a down');
});

test('When the last change is within the cooldown, then the time left is counted down to 0 at its end', () => {
  const at = new Date('2026-01-01T00:00:00Z');
  assert.equal(cooldownLeftMs(undefined, policy, at.getTime()), 0, 'never changed: may act now');
  assert.equal(cooldownLeftMs({ at }, policy, at.getTime() + 100_000), 200_000);
  assert.equal(cooldownLeftMs({ at }, policy, at.getTime() + 300_000), 0);
  assert.equal(cooldownLeftMs({ at }, policy, at.getTime() + 400_000), 0);
});

test('When the state labels hold a change, then it is read back; a missing or bad time means no change', () => {
  const names = stateLabels(P);
  assert.deepEqual(names, {
    changedAt: 'autoscale.state.changed-at',
    direction: 'autoscale.state.direction',
    from: 'autoscale.state.from',
    to: 'autoscale.state.to',
    reason: 'autoscale.state.reason',
  });
  const labels = { [names.changedAt]: '2026-01-01T00:00:00.000Z', [names.direction]: 'up', [names.from]: '2', [names.to]: '4', [names.reason]: 'load' };
  assert.deepEqual(parseLastChange(labels, P), { at: new Date('2026-01-01T00:00:00Z'), direction: 'up', from: 2, to: 4, reason: 'load' });
  assert.equal(parseLastChange({ ...labels, [names.from]: 'x' }, P)?.from, undefined);
  assert.equal(parseLastChange({ [names.changedAt]: 'yesterday' }, P), undefined);
  assert.equal(parseLastChange({}, P), undefined);
  assert.equal(parseLastChange(undefined, P), undefined);
});
