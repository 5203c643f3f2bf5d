/**
 * The alerter as a real process against a real influxd (points written by the test), a local Slack receiver
 * and a real autoscaler process scaling a real Swarm test service. Uses the shipped configs/alerts/sla-rules.yml
 * with RULE_OVERRIDES (short windows) so the rules under test are the production ones.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  REPO_ROOT,
  createTestService,
  removeServices,
  removeStaleServices,
  startAutoscaler,
  startNodeService,
  startSlackReceiver,
  tokenFile,
  until,
  type Proc,
  type SlackReceiver,
} from '../../autoscaler/test/helpers.js';
import { startInfluxd, type Influxd } from '@forum/test-support';
import { nextLevel } from '../src/evaluator.js';
import { parseRules } from '../src/rules.js';

const RULES = join(REPO_ROOT, 'configs', 'alerts', 'sla-rules.yml');
const ENTRY = join(REPO_ROOT, 'services', 'alerter', 'src', 'main.ts');
const TOKEN = 'alerter-test-token-0123456789';
const STACK = `as-test-${process.pid}-al`;
const FAST = { period: '4s', bucket: '1s', reduce: 'last', every: '1s' };

let influx: Influxd & { user: string; password: string };
let slack: SlackReceiver;
let scaler: Proc;
const procs: Proc[] = [];

async function alerts(p: Proc) {
  return (await (await fetch(`${p.url}/v1/alerts`)).json()) as {
    disabled: boolean;
    rules: Array<{ id: string; groups: Array<{ group: string; level: string; value: number }> }>;
  };
}
const groupOf = async (p: Proc, rule: string) => (await alerts(p)).rules.find((r) => r.id === rule)?.groups[0];

/** Writes one nginx stub_status point (Telegraf schema) for an instance. */
const nginxPoint = (active: number, instance = 'nginx@10.0.0.11') =>
  `nginx,host=node1,server=10.0.0.11,port=80,instance=${instance} active=${active}i,accepts=1i,handled=1i,reading=0i,requests=1i,waiting=0i,writing=1i ${Date.now()}`;

/** Writes `active` and waits until the alerter has evaluated exactly that value for the rule. */
let lastWrite = 0;
async function step(p: Proc, rule: string, active: number): Promise<string> {
  // the rules bucket by 1 s: two points in one bucket would be averaged, so each step starts a new second
  const sameSecond = Math.floor(Date.now() / 1000) === Math.floor(lastWrite / 1000);
  if (sameSecond) await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
  lastWrite = Date.now();
  await influx.write('telegraf', nginxPoint(active));
  const g = await until(
    `${rule} evaluates ${active}`,
    async () => {
      const g = await groupOf(p, rule);
      return g && g.value === active ? g : undefined;
    },
    30_000,
    100,
  );
  return g.level;
}

async function startAlerter(env: Record<string, string>): Promise<Proc> {
  const p = await startNodeService(ENTRY, {
    SLA_RULES_FILE: RULES,
    INFLUX_URL: influx.url,
    INFLUX_USER: influx.user,
    INFLUX_PASSWORD: influx.password,
    SLACK_WEBHOOK_URL: slack.url,
    EVAL_INTERVAL_SECONDS: '0.5',
    SLACK_MIN_INTERVAL_MS: '0',
    ...env,
  });
  procs.push(p);
  return p;
}

before(async () => {
  await removeStaleServices();
  influx = await startInfluxd({ auth: true, prefix: 'alerter-influx-' });
  slack = await startSlackReceiver();
  scaler = await startAutoscaler({ AUTOSCALER_TOKEN_FILE: tokenFile(TOKEN), SLACK_WEBHOOK_URL: slack.url, STACK_NAME: STACK });
});

after(async () => {
  for (const p of procs) await p.kill();
  await scaler?.kill();
  await influx?.stop();
  await slack?.close();
  await removeServices(STACK);
});

describe('hysteresis (pure)', () => {
  const rule = { op: '>' as const, warn: 750, crit: 1024, hysteresis: 0.1 };
  test('When a value reaches the threshold, then the level is entered; when it falls back, then it is left only past threshold*(1-h)', () => {
    assert.equal(nextLevel('OK', 750, rule), 'OK');
    assert.equal(nextLevel('OK', 751, rule), 'WARNING');
    assert.equal(nextLevel('OK', 1100, rule), 'CRITICAL');
    assert.equal(nextLevel('CRITICAL', 1000, rule), 'CRITICAL');
    assert.equal(nextLevel('CRITICAL', 921, rule), 'WARNING');
    assert.equal(nextLevel('WARNING', 700, rule), 'WARNING');
    assert.equal(nextLevel('WARNING', 675, rule), 'OK');
    assert.equal(nextLevel('CRITICAL', 10, rule), 'OK');
  });
  test('When the op is "<", then entering and leaving mirror it', () => {
    const low = { op: '<' as const, warn: 20, hysteresis: 0.1 };
    assert.equal(nextLevel('OK', 19, low), 'WARNING');
    assert.equal(nextLevel('WARNING', 21, low), 'WARNING');
    assert.equal(nextLevel('WARNING', 22, low), 'OK');
  });
  test('When the shipped rules file is loaded, then it validates; when overrides are bad, then they are refused', () => {
    const text = require_text(RULES);
    const r = parseRules(text, RULES);
    assert.ok(r.rules.find((x) => x.id === 'nginx_scale_up')?.scale);
    assert.throws(() => parseRules(text, RULES, { nope: { warn: 1 } }), /unknown rule nope/);
    assert.throws(() => parseRules('version: 2\n', 'x.yml'), /version/);
  });
});

function require_text(f: string) {
  return readFileSync(f, 'utf8');
}

describe('alerter against a real influxd', () => {
  test('When the level of a rule changes, then Slack gets one post in its colour; when it does not change, then nothing is posted', async () => {
    const p = await startAlerter({ RULE_OVERRIDES: JSON.stringify({ nginx_clients: FAST }) });
    const mine = () => slack.messages.filter((m) => m.text.includes('nginx_clients'));
    const seq: Array<[number, string]> = [
      [100, 'OK'],
      [800, 'WARNING'],
      [1100, 'CRITICAL'],
      [1000, 'CRITICAL'], // below crit, inside the hysteresis band
      [900, 'WARNING'],
      [700, 'WARNING'], // below warn, inside the band
      [600, 'OK'],
    ];
    for (const [active, level] of seq) assert.equal(await step(p, 'nginx_clients', active), level, `at ${active}`);
    const msgs = await until('4 nginx_clients messages', async () => (mine().length >= 4 ? mine() : undefined), 30_000);
    assert.deepEqual(
      msgs.map((m) => m.color),
      ['warning', 'danger', 'warning', 'good'],
    );
    assert.match(msgs[0].text, /WARNING nginx_clients \[host=node1 instance=nginx@10\.0\.0\.11\].* is 800 clients \(warning > 750, critical > 1024\)/);
    assert.match(msgs[3].text, /OK nginx_clients.*back to 600 clients \(was WARNING/);
    assert.equal(msgs[0].body.channel, '#alerts', 'the channel of the rules file');
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    assert.match(metrics, /alerter_transitions_total\{[^}]*rule="nginx_clients"[^}]*level="CRITICAL"[^}]*\} 1/);
    await p.kill();
  });

  test('When a scale rule fires, then the autoscaler scales the Swarm service once, and sustained load and the recovery cause no flapping inside the cooldown', async () => {
    const svc = await createTestService(`${STACK}_nginx`, {
      'autoscale.enabled': 'true',
      'autoscale.min': '1',
      'autoscale.max': '4',
      'autoscale.cooldown': '600',
    });
    const before = slack.messages.length;
    const p = await startAlerter({
      AUTOSCALER_URL: scaler.url,
      AUTOSCALER_TOKEN: TOKEN,
      RULE_OVERRIDES: JSON.stringify({ nginx_scale_up: { ...FAST, warn: 50 }, nginx_scale_down: { ...FAST, warn: 10 } }),
    });
    assert.equal(await step(p, 'nginx_scale_up', 80), 'WARNING');
    await until('replicas 2', async () => (await svc.replicas()) === 2, 30_000);
    // recoveries reach the autoscaler too (Kapacitor posts level OK) and are decided as 'ignored'
    const decided = () => scaler.logs().filter((l) => l.event === 'autoscale_decision' && l.target === svc.name && l.outcome !== 'ignored');
    await until('one decision', async () => decided().length === 1);
    // sustained: still above the mark for several rounds: no re-post before the cooldown ends
    for (const v of [90, 85, 95]) assert.equal(await step(p, 'nginx_scale_up', v), 'WARNING');
    // recovery and then the low mark: the down alert fires but the autoscaler refuses inside the cooldown
    assert.equal(await step(p, 'nginx_scale_down', 5), 'WARNING');
    await until('the down decision', async () => decided().length >= 2, 30_000);
    const decisions = decided().map((l) => [l.direction, l.outcome, l.code]);
    assert.deepEqual(decisions, [
      ['up', 'scaled', 'scaled'],
      ['down', 'refused', 'cooldown'],
    ]);
    assert.equal(await svc.replicas(), 2);
    const texts = await until(
      'Slack: alert, scale, recovery, refusal',
      async () => {
        const t = slack.messages.slice(before).map((m) => `${m.color} ${m.text}`);
        // the alerter's recovery post and the autoscaler's refusal come from two processes, in either order
        return t.some((x) => /^warning .*cooldown/.test(x)) && t.some((x) => /^good :white_check_mark: OK nginx_scale_up/.test(x)) ? t : undefined;
      },
      30_000,
    );
    assert.ok(
      texts.some((t) => /^warning :warning: WARNING nginx_scale_up.*-> autoscaler: nginx up/.test(t)),
      texts.join('\n'),
    );
    assert.ok(
      texts.some((t) => /^good .*autoscaler: .*_nginx scaled up from 1 to 2/.test(t)),
      texts.join('\n'),
    );
    assert.ok(
      texts.some((t) => /^good :white_check_mark: OK nginx_scale_up/.test(t)),
      texts.join('\n'),
    );
    await p.kill();
  });

  test('When the service sits at its bound, then the scale alert is not re-posted', async () => {
    const svc = await createTestService(`${STACK}_web`, { 'autoscale.enabled': 'true', 'autoscale.min': '1', 'autoscale.max': '1', 'autoscale.cooldown': '0' });
    const dir = mkdtempSync(join(tmpdir(), 'alerter-rules-'));
    const rules = join(dir, 'rules.yml');
    writeFileSync(
      rules,
      `version: 1
defaults: { period: 4s, every: 1s, bucket: 1s, reduce: last }
autoscale:
  cooldownSeconds: 1
  rules:
    - { id: web_up, service: web, direction: up, measurement: nginx, value: { select: 'mean("active")' }, op: ">", warn: 50, notify: [slack, autoscaler] }
`,
    );
    const p = await startAlerter({ SLA_RULES_FILE: rules, AUTOSCALER_URL: scaler.url, AUTOSCALER_TOKEN: TOKEN });
    const decided = () => scaler.logs().filter((l) => l.event === 'autoscale_decision' && l.target === svc.name);
    assert.equal(await step(p, 'web_up', 70), 'WARNING');
    await until('the at_max refusal', async () => decided().length === 1);
    // several more rounds in alert, each past the 1 s repost time
    for (const v of [71, 72, 73, 74]) {
      assert.equal(await step(p, 'web_up', v), 'WARNING');
      await new Promise((r) => setTimeout(r, 400));
    }
    assert.deepEqual(
      decided().map((l) => l.code),
      ['at_max'],
    );
    assert.equal(await svc.replicas(), 1);
    await p.kill();
  });

  test('When an external Kapacitor is configured, then the alerter stays idle', async () => {
    const before = slack.messages.length;
    const p = await startAlerter({ KAPACITOR_URL: 'http://kapacitor:9092', RULE_OVERRIDES: JSON.stringify({ nginx_clients: FAST }) });
    await influx.write('telegraf', nginxPoint(5000));
    const a = await alerts(p);
    assert.equal(a.disabled, true);
    // give it several evaluation intervals' worth of chances to (wrongly) alert
    await new Promise((r) => setTimeout(r, 3000));
    const mine = slack.messages.slice(before).filter((m) => /nginx_clients/.test(m.text));
    assert.deepEqual(
      mine.map((m) => m.text),
      [],
      'the idle alerter posted nothing',
    );
    assert.ok(p.logs().some((l) => /alerter disabled/.test(String(l.msg))));
    await p.kill();
  });

  test('When InfluxDB is down, then that is itself a CRITICAL Slack alert', async () => {
    const p = await startAlerter({ RULE_OVERRIDES: JSON.stringify({ nginx_clients: FAST }) });
    await step(p, 'nginx_clients', 10);
    await influx.stop();
    const m = await until('influx down message', async () => slack.messages.find((x) => /InfluxDB at .* does not answer/.test(x.text)), 40_000);
    assert.equal(m.color, 'danger');
    await p.kill();
  });
});
