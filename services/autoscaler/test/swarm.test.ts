/**
 * The autoscaler against the REAL Swarm of this machine: real processes, real services (as-test-*), a local
 * Slack receiver. Needs a Docker engine in swarm mode (manager) and the local image debian:trixie-slim.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTargets } from '../src/rules.js';
import {
  REPO_ROOT,
  createTestService,
  docker,
  removeServices,
  removeStaleServices,
  startAutoscaler,
  startSlackReceiver,
  tokenFile,
  until,
  type Proc,
  type SlackReceiver,
} from './helpers.js';

const TOKEN = 'as-test-token-0123456789abcdef';
const PREFIX = `as-test-${process.pid}-`;

let slack: SlackReceiver;
let env: Record<string, string>;
let scaler: Proc;

async function call(p: Proc, path: string, body?: unknown, opts: { token?: string | null; raw?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${p.url}${path}`, {
    method: body === undefined && opts.raw === undefined ? 'GET' : 'POST',
    headers,
    body: opts.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await res.text();
  let json: Record<string, any> = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, headers: res.headers };
}
const scale = (p: Proc, name: string, direction: unknown, reason = 'test') => call(p, `/v1/services/${name}/scale`, { direction, reason });

/** Sum of autoscaler_decisions_total samples carrying every given label. */
async function metricValue(p: Proc, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${p.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('autoscaler_decisions_total{') && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

before(async () => {
  await removeStaleServices();
  slack = await startSlackReceiver();
  env = { AUTOSCALER_TOKEN_FILE: tokenFile(TOKEN), SLACK_WEBHOOK_URL: slack.url, SLACK_CHANNEL: '#alerts' };
  scaler = await startAutoscaler(env);
});

after(async () => {
  await scaler?.kill();
  await slack?.close();
  await removeServices(PREFIX);
});

describe('autoscaler on the real Swarm', () => {
  test('When no token or a wrong token is sent, then the answer is 401 and nothing changes', async () => {
    const svc = await createTestService(`${PREFIX}auth`, { 'autoscale.enabled': 'true', 'autoscale.max': '3' });
    const v0 = await svc.version();
    const none = await call(scaler, `/v1/services/${svc.name}/scale`, { direction: 'up' }, { token: null });
    assert.equal(none.status, 401);
    assert.equal(none.json.code, 'not_authenticated');
    const wrong = await call(scaler, `/v1/services/${svc.name}/scale`, { direction: 'up' }, { token: 'x'.repeat(30) });
    assert.equal(wrong.status, 401);
    assert.equal((await call(scaler, '/v1/services', undefined, { token: null })).status, 401);
    assert.equal(await svc.replicas(), 1);
    assert.equal(await svc.version(), v0, 'the service was not updated at all');
  });

  test('When a service is scaled up and down, then its tasks follow', async () => {
    const svc = await createTestService(`${PREFIX}updown`, {
      'autoscale.enabled': 'true',
      'autoscale.min': '1',
      'autoscale.max': '4',
      'autoscale.cooldown': '0',
    });
    await until('1 running task', async () => (await svc.running()) === 1);
    const up = await scale(scaler, svc.name, 'up', 'load test');
    assert.equal(up.status, 200, JSON.stringify(up.json));
    assert.equal(up.json.outcome, 'scaled');
    assert.deepEqual([up.json.from, up.json.to], [1, 2]);
    assert.equal(await svc.replicas(), 2);
    await until('2 running tasks', async () => (await svc.running()) === 2, 60_000);
    const labels = await svc.labels();
    assert.equal(labels['autoscale.state.direction'], 'up');
    assert.equal(labels['autoscale.state.from'], '1');
    assert.equal(labels['autoscale.state.to'], '2');
    assert.ok(Math.abs(Date.parse(labels['autoscale.state.changed-at']) - Date.now()) < 60_000);

    const down = await scale(scaler, svc.name, 'DOWN');
    assert.equal(down.status, 200, JSON.stringify(down.json));
    assert.deepEqual([down.json.from, down.json.to], [2, 1]);
    await until('1 running task', async () => (await svc.running()) === 1, 60_000);

    const list = await call(scaler, '/v1/services');
    const view = list.json.services.find((s: { service: string }) => s.service === svc.name);
    assert.ok(view, 'listed');
    assert.equal(view.replicas, 1);
    assert.deepEqual(view.policy, { min: 1, max: 4, step: 1, cooldownSeconds: 0 });
    assert.equal(view.lastChange.direction, 'down');
    assert.equal(view.cooldownLeftSeconds, 0);
  });

  test('When a service is scaled at its bounds, then it never goes above max nor below min; the step is honoured and clamped', async () => {
    const svc = await createTestService(
      `${PREFIX}bounds`,
      { 'autoscale.enabled': 'true', 'autoscale.min': '2', 'autoscale.max': '5', 'autoscale.step': '2', 'autoscale.cooldown': '0s' },
      2,
    );
    const a = await scale(scaler, svc.name, 'up');
    assert.deepEqual([a.status, a.json.to], [200, 4]);
    const b = await scale(scaler, svc.name, 'up');
    assert.deepEqual([b.status, b.json.to], [200, 5], 'clamped to max');
    const c = await scale(scaler, svc.name, 'up');
    assert.equal(c.status, 409);
    assert.equal(c.json.code, 'at_max');
    assert.match(c.json.detail, /maximum \(autoscale\.max=5\)/);
    assert.equal(await svc.replicas(), 5);
    assert.deepEqual([(await scale(scaler, svc.name, 'down')).json.to, (await scale(scaler, svc.name, 'down')).json.to], [3, 2]);
    const d = await scale(scaler, svc.name, 'down');
    assert.equal(d.status, 409);
    assert.equal(d.json.code, 'at_min');
    assert.equal(await svc.replicas(), 2);
  });

  test('When the input is bad, then a clear 4xx answers and nothing changes', async () => {
    const plain = await createTestService(`${PREFIX}plain`, {});
    const broken = await createTestService(`${PREFIX}broken`, { 'autoscale.enabled': 'true', 'autoscale.min': '0', 'autoscale.max': 'ten' });
    const ok = await createTestService(`${PREFIX}bad`, { 'autoscale.enabled': 'true', 'autoscale.max': '3', 'autoscale.cooldown': '0' });
    const v = { plain: await plain.version(), broken: await broken.version(), ok: await ok.version() };

    const unknown = await scale(scaler, `${PREFIX}nope`, 'up');
    assert.deepEqual([unknown.status, unknown.json.code], [404, 'unknown_service']);
    const notOpted = await scale(scaler, plain.name, 'up');
    assert.deepEqual([notOpted.status, notOpted.json.code], [403, 'not_opted_in']);
    assert.match(notOpted.json.detail, /autoscale\.enabled=true/);
    const invalid = await scale(scaler, broken.name, 'up');
    assert.deepEqual([invalid.status, invalid.json.code], [422, 'policy_invalid']);
    assert.match(invalid.json.detail, /autoscale\.min must be >= 1/);
    assert.match(invalid.json.detail, /autoscale\.max="ten" is not a whole number/);
    const dir = await scale(scaler, ok.name, 'sideways');
    assert.deepEqual([dir.status, dir.json.code], [400, 'invalid_direction']);
    const noDir = await call(scaler, `/v1/services/${ok.name}/scale`, { reason: 'x' });
    assert.deepEqual([noDir.status, noDir.json.code], [400, 'invalid_direction']);
    const malformed = await call(scaler, `/v1/services/${ok.name}/scale`, undefined, { raw: '{"direction": "up"' });
    assert.deepEqual([malformed.status, malformed.json.code], [400, 'parse_error']);
    const notObject = await call(scaler, `/v1/services/${ok.name}/scale`, undefined, { raw: '["up"]' });
    assert.equal(notObject.status, 400);
    const badName = await scale(scaler, 'a%20b', 'up');
    assert.deepEqual([badName.status, badName.json.code], [400, 'invalid_service']);
    const kap = await call(scaler, '/v1/hooks/kapacitor', { id: 'x', level: 'LOUD' });
    assert.equal(kap.status, 400);
    assert.match(kap.json.detail, /level/);
    const kapNoTarget = await call(scaler, '/v1/hooks/kapacitor', { id: 'cpu high', level: 'CRITICAL' });
    assert.deepEqual([kapNoTarget.status, kapNoTarget.json.code], [400, 'no_target']);
    const am = await call(scaler, '/v1/hooks/alertmanager', { status: 'firing', alerts: [] });
    assert.equal(am.status, 400);
    const amUnknown = await call(scaler, '/v1/hooks/alertmanager', {
      status: 'firing',
      alerts: [{ labels: { autoscale_service: `${PREFIX}nope`, autoscale_direction: 'up' } }],
    });
    assert.deepEqual([amUnknown.status, amUnknown.json.code], [404, 'unknown_service']);
    const kib = await call(scaler, '/v1/hooks/kibana', { service: ok.name, direction: 42 });
    assert.deepEqual([kib.status, kib.json.code], [400, 'invalid_direction']);

    assert.deepEqual({ plain: await plain.version(), broken: await broken.version(), ok: await ok.version() }, v, 'no service was updated');
    assert.ok((await metricValue(scaler, { outcome: 'invalid' })) >= 6);
    assert.ok((await metricValue(scaler, { outcome: 'rejected', code: 'not_opted_in' })) >= 1);
  });

  test('When Kapacitor, Alertmanager or Kibana posts an alert, then the service scales; recoveries are ignored', async () => {
    const svc = await createTestService(`${PREFIX}hooks`, { 'autoscale.enabled': 'true', 'autoscale.max': '6', 'autoscale.cooldown': '0' });
    const kap = (level: string, id = `autoscale:${svc.name}:up`) => ({
      id,
      message: `nginx clients ${level}`,
      details: '',
      time: new Date().toISOString(),
      duration: 0,
      level,
      previousLevel: 'OK',
      recoverable: true,
      data: { series: [{ name: 'nginx', tags: { host: 'n1' }, columns: ['time', 'value'], values: [[new Date().toISOString(), 400]] }] },
    });
    const k1 = await call(scaler, '/v1/hooks/kapacitor', kap('CRITICAL'));
    assert.equal(k1.status, 200, JSON.stringify(k1.json));
    assert.equal(k1.json.decisions[0].outcome, 'scaled');
    assert.equal(await svc.replicas(), 2);
    const k2 = await call(scaler, '/v1/hooks/kapacitor', kap('OK'));
    assert.equal(k2.json.decisions[0].outcome, 'ignored');
    assert.equal(await svc.replicas(), 2);
    // query parameters name the target for any alert id; ?recovery=reverse turns a recovery into the opposite step
    const k3 = await call(scaler, `/v1/hooks/kapacitor?service=${svc.name}&direction=up&recovery=reverse`, kap('OK', 'nginx_clients'));
    assert.deepEqual([k3.json.decisions[0].outcome, k3.json.decisions[0].direction], ['scaled', 'down']);
    assert.equal(await svc.replicas(), 1);

    const am = await call(scaler, '/v1/hooks/alertmanager', {
      receiver: 'autoscaler',
      status: 'firing',
      groupLabels: { alertname: 'ApiSlow' },
      commonLabels: { alertname: 'ApiSlow', autoscale_service: svc.name },
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'ApiSlow', autoscale_direction: 'up', instance: 'a' },
          annotations: { summary: 'slow' },
          startsAt: new Date().toISOString(),
        },
        {
          status: 'firing',
          labels: { alertname: 'ApiSlow', autoscale_direction: 'up', instance: 'b' },
          annotations: { summary: 'slow' },
          startsAt: new Date().toISOString(),
        },
      ],
    });
    assert.equal(am.status, 200, JSON.stringify(am.json));
    assert.equal(am.json.decisions.length, 1, 'two alerts for the same target are one decision');
    assert.equal(await svc.replicas(), 2);
    const amResolved = await call(scaler, '/v1/hooks/alertmanager', {
      status: 'resolved',
      alerts: [{ labels: { autoscale_service: svc.name, autoscale_direction: 'up' } }],
    });
    assert.equal(amResolved.json.decisions[0].outcome, 'ignored');

    const kib = await call(scaler, '/v1/hooks/kibana', {
      service: svc.name,
      direction: 'up',
      reason: 'nginx 5xx burst',
      state: 'active',
      rule: { id: 'r1', name: 'nginx errors' },
    });
    assert.equal(kib.status, 200, JSON.stringify(kib.json));
    assert.equal(kib.json.decisions[0].outcome, 'scaled');
    assert.equal(await svc.replicas(), 3);
    const kibRec = await call(scaler, '/v1/hooks/kibana', { service: svc.name, direction: 'up', state: 'recovered' });
    assert.equal(kibRec.json.decisions[0].outcome, 'ignored');
    assert.equal(await svc.replicas(), 3);
  });

  test('When a second change comes within the cooldown, then it is 409 with when; it holds after the autoscaler is killed', async () => {
    const svc = await createTestService(`${PREFIX}cool`, { 'autoscale.enabled': 'true', 'autoscale.max': '5', 'autoscale.cooldown': '10m' });
    const first = await scale(scaler, svc.name, 'up');
    assert.equal(first.status, 200);
    const second = await scale(scaler, svc.name, 'down');
    assert.equal(second.status, 409);
    assert.equal(second.json.code, 'cooldown');
    assert.equal(second.json.nextAllowedAt, first.json.nextAllowedAt);
    assert.match(second.json.detail, /may be scaled again at \S+ \(in \d+ s\)/);
    const retryAfter = Number(second.headers.get('retry-after'));
    assert.ok(retryAfter > 590 && retryAfter <= 600, `Retry-After ${retryAfter}`);
    assert.equal(await svc.replicas(), 2);

    // kill -9: no graceful anything; a fresh process must still refuse
    assert.equal(await scaler.kill('SIGKILL'), null);
    scaler = await startAutoscaler(env);
    const third = await scale(scaler, svc.name, 'up');
    assert.equal(third.status, 409, JSON.stringify(third.json));
    assert.equal(third.json.code, 'cooldown');
    assert.equal(third.json.changedAt, first.json.changedAt);
    const view = (await call(scaler, `/v1/services/${svc.name}`)).json;
    assert.ok(view.cooldownLeftSeconds > 580, JSON.stringify(view));
    assert.equal(await svc.replicas(), 2);
  });

  test('When calls race through two autoscaler replicas, then exactly one change is made', async () => {
    const second = await startAutoscaler(env);
    try {
      for (let round = 0; round < 3; round++) {
        const svc = await createTestService(`${PREFIX}race${round}`, { 'autoscale.enabled': 'true', 'autoscale.max': '9', 'autoscale.cooldown': '300' }, 2);
        const calls = Array.from({ length: 8 }, (_, i) => scale(i % 2 ? second : scaler, svc.name, i % 3 ? 'up' : 'down', `race ${i}`));
        const results = await Promise.all(calls);
        const statuses = results.map((r) => r.status).sort();
        assert.equal(statuses.filter((s) => s === 200).length, 1, `exactly one 200: ${statuses}`);
        assert.equal(statuses.filter((s) => s === 409).length, 7, `the rest refused: ${statuses}`);
        assert.ok(results.filter((r) => r.status === 409).every((r) => r.json.code === 'cooldown'));
        const winner = results.find((r) => r.status === 200)!.json;
        assert.equal(await svc.replicas(), winner.to);
        assert.equal(Math.abs(winner.to - 2), 1, 'one step');
        // the Swarm's own record: the spec before the last update had the original 2 replicas
        const info = JSON.parse(await docker('service', 'inspect', svc.name))[0];
        assert.equal(info.PreviousSpec.Mode.Replicated.Replicas, 2, 'exactly one replica change, from 2');
        assert.equal(info.Spec.Labels['autoscale.state.reason'], winner.reason);
      }
    } finally {
      await second.kill();
    }
  });

  test('When an alert names an sla-rules.yml id, then the id and the stack namespace name the target', async () => {
    const stack = `${PREFIX}stk`;
    const svc = await createTestService(`${stack}_web`, { 'autoscale.enabled': 'true', 'autoscale.max': '3', 'autoscale.cooldown': '0' });
    const dir = mkdtempSync(join(tmpdir(), 'as-test-rules-'));
    const rulesFile = join(dir, 'sla-rules.yml');
    writeFileSync(
      rulesFile,
      [
        'version: 1',
        'autoscale:',
        '  rules:',
        `    - { id: web_scale_up, service: web, direction: up, measurement: nginx, value: { select: 'mean("active")' }, op: '>', warn: 50 }`,
        `    - { id: web_scale_down, service: web, direction: down, measurement: nginx, value: { select: 'mean("active")' }, op: '<', warn: 5 }`,
        '',
      ].join('\n'),
    );
    const p = await startAutoscaler({ ...env, STACK_NAME: stack, SLA_RULES_FILE: rulesFile });
    try {
      const body = (id: string, level = 'WARNING') => ({ id, message: id, level, data: { series: [{ name: 'nginx', tags: {} }] } });
      const up = await call(p, '/v1/hooks/kapacitor', body('web_scale_up:nginx'));
      assert.equal(up.status, 200, JSON.stringify(up.json));
      assert.deepEqual([up.json.decisions[0].service, up.json.decisions[0].to], [`${stack}_web`, 2]);
      const am = await call(p, '/v1/hooks/alertmanager', { status: 'firing', alerts: [{ labels: { alertname: 'web_scale_down' } }] });
      assert.equal(am.status, 200, JSON.stringify(am.json));
      assert.equal(am.json.decisions[0].to, 1);
      const direct = await scale(p, 'web', 'up');
      assert.deepEqual([direct.status, direct.json.service], [200, `${stack}_web`]);
      const unknownId = await call(p, '/v1/hooks/kapacitor', body('cpu_high'));
      assert.deepEqual([unknownId.status, unknownId.json.code], [400, 'no_target']);
      assert.equal(await svc.replicas(), 2);
    } finally {
      await p.kill();
    }
    // the shipped rules file loads and maps its scale rules
    const targets = loadTargets(join(REPO_ROOT, 'configs', 'alerts', 'sla-rules.yml'));
    assert.deepEqual(targets.get('nginx_scale_up'), { service: 'nginx', direction: 'up' });
    assert.deepEqual(targets.get('api_scale_up'), { service: 'api', direction: 'up' });
  });

  test('When a decision is made, then it is logged, counted and posted to Slack with a colour by outcome', async () => {
    const svc = await createTestService(`${PREFIX}slack`, { 'autoscale.enabled': 'true', 'autoscale.max': '2', 'autoscale.cooldown': '0' });
    const before = slack.messages.length;
    await scale(scaler, svc.name, 'up', 'slack check');
    await scale(scaler, svc.name, 'up', 'slack check');
    await scale(scaler, `${PREFIX}missing`, 'up');
    const msgs = await until('3 Slack messages', async () => (slack.messages.length >= before + 3 ? slack.messages.slice(before) : undefined), 15_000);
    const mine = msgs.filter((m) => m.text.includes(svc.name) || m.text.includes(`${PREFIX}missing`));
    assert.deepEqual(
      mine.map((m) => m.color),
      ['good', 'warning', 'danger'],
    );
    assert.match(mine[0].text, /scaled up from 1 to 2/);
    assert.equal(mine[0].body.channel, '#alerts');
    assert.ok(Array.isArray(mine[0].body.blocks));
    const logs = scaler.logs().filter((l) => l.event === 'autoscale_decision' && l.target === svc.name);
    assert.deepEqual(
      logs.map((l) => [l.outcome, l.code]),
      [
        ['scaled', 'scaled'],
        ['refused', 'at_max'],
      ],
    );
    assert.equal(await metricValue(scaler, { target: svc.name, direction: 'up', outcome: 'scaled' }), 1);
    assert.equal(await metricValue(scaler, { target: svc.name, direction: 'up', outcome: 'refused', code: 'at_max' }), 1);
  });
});
