/**
 * Every service's GET /metrics passes `promtool check metrics` (Debian's prometheus package): each service is started
 * as a real process (its TypeScript entry) with its real dependencies where it needs them to start (redis-server,
 * PostgreSQL, this machine's Docker), or with an unreachable InfluxDB (the writers buffer, /metrics still answers).
 * Any problem promtool reports (a `*_total` gauge, a missing HELP, a non-base unit, ...) fails the test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, tempDir, waitForWith } from '@forum/test-support';
import { REPO, startIpblock, startRedis, type RedisServer } from '../../../test/edge/lib/harness.js';
import { startNodeService, tokenFile, type Proc } from '../../autoscaler/test/helpers.js';
import { spawnEntry, startStack, type Stack } from '../../forum-api/test/support/env.js';

const until = waitForWith({ timeoutMs: 60_000, intervalMs: 200 });
const tmp = tempDir('promtool-');
const DEAD_INFLUX = 'http://127.0.0.1:9'; // refused at once: the writers queue and count, /metrics answers
const stops: Array<() => Promise<unknown>> = [];
let redis: RedisServer;

function promtool(text: string): { ok: boolean; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { ok: r.status === 0 && !/\S/.test(`${r.stdout}${r.stderr}`), out: `${r.stdout}${r.stderr}` };
}

async function check(name: string, url: string, mustHave: Array<[metric: string, type: 'counter' | 'gauge']> = []): Promise<void> {
  const r = await fetch(url);
  assert.equal(r.status, 200, `${name} ${url}`);
  const text = await r.text();
  const lint = promtool(text);
  assert.ok(lint.ok, `${name}: promtool check metrics reports:\n${lint.out}`);
  for (const [m, type] of mustHave) assert.match(text, new RegExp(`^# TYPE ${m} ${type}$`, 'm'), `${name}: ${m} is a ${type}`);
}

const node = (svc: string, env: Record<string, string>): Promise<Proc> => startNodeService(join(REPO, 'services', svc, 'src', 'main.ts'), env);

before(async () => {
  assert.ok(existsSync('/usr/bin/promtool'), 'promtool (Debian prometheus) is installed by scripts/lib/ensure-test-deps.sh');
  redis = await startRedis();
  stops.push(() => redis.stop());
});
after(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  tmp.remove();
});

test('When a counter is typed as a gauge, then the promtool check fails (the defect it guards against)', () => {
  const bad = promtool('# HELP x_dropped_total Dropped\n# TYPE x_dropped_total gauge\nx_dropped_total 3\n');
  assert.equal(bad.ok, false);
  assert.match(bad.out, /_total/);
});

test('When metrics-agent is scraped, then dropped/written/errors are counters', async () => {
  const p = await node('metrics-agent', {
    INFLUX_URL: DEAD_INFLUX,
    HOST_PROC: '/proc',
    INTERVAL_SECONDS: '1',
    SCRAPE_NETWORKS: 'none',
    STACK_NAMESPACE: `promtool${process.pid}`,
  });
  stops.push(() => p.kill());
  await check('metrics-agent', `${p.url}/metrics`, [
    ['metrics_agent_dropped_points_total', 'counter'],
    ['metrics_agent_written_points_total', 'counter'],
    ['metrics_agent_write_errors_total', 'counter'],
    ['metrics_agent_buffered_points', 'gauge'],
  ]);
});

test('When snmp-poller is scraped, then snmp_dropped_points_total is a counter', async () => {
  const community = tmp.file('community', 'promtool-community\n');
  const p = await node('snmp-poller', { INFLUX_URL: DEAD_INFLUX, SNMP_COMMUNITY_FILE: community, STACK_NAME: `promtool${process.pid}` });
  stops.push(() => p.kill());
  await check('snmp-poller', `${p.url}/metrics`, [
    ['snmp_dropped_points_total', 'counter'],
    ['snmp_nodes_up', 'gauge'],
  ]);
});

test('When log-shipper is scraped, then its *_total are counters', async () => {
  const p = await node('log-shipper', { INFLUX_URL: DEAD_INFLUX, ES_URL: '' });
  stops.push(() => p.kill());
  await check('log-shipper', `${p.url}/metrics`, [
    ['log_shipper_dropped_total', 'counter'],
    ['log_shipper_lines_total', 'counter'],
    ['log_shipper_buffered', 'gauge'],
  ]);
});

test('When backup is scraped, then /metrics has the last success time and age, the last duration and a failures counter', async () => {
  const pw = tmp.file('pgpw', 'unused\n');
  const p = await node('backup', { PGPASSWORD_FILE: pw, PGHOST: '127.0.0.1', PGPORT: '9', BACKUP_DIR: join(tmp.dir, 'backups') });
  stops.push(() => p.kill());
  await check('backup', `${p.url}/metrics`, [
    ['backup_last_success_timestamp_seconds', 'gauge'],
    ['backup_last_success_age_seconds', 'gauge'],
    ['backup_last_duration_seconds', 'gauge'],
    ['backup_failures_total', 'counter'],
    ['backup_runs_total', 'counter'],
  ]);
});

test('When ipblock, autoscaler and alerter are scraped, then promtool accepts their metrics', async () => {
  const ib = await startIpblock({ redis, secretsDir: tmp.dir });
  stops.push(() => ib.stop());
  await check('ipblock', `${ib.url}/metrics`);
  const as = await node('autoscaler', {
    AUTOSCALER_TOKEN_FILE: tokenFile('promtool-autoscaler-token-0123'),
    SLA_RULES_FILE: join(REPO, 'configs/alerts/sla-rules.yml'),
  });
  stops.push(() => as.kill());
  await check('autoscaler', `${as.url}/metrics`);
  const al = await node('alerter', { INFLUX_URL: DEAD_INFLUX, SLA_RULES_FILE: join(REPO, 'configs/alerts/sla-rules.yml'), EVAL_INTERVAL_SECONDS: '1' });
  stops.push(() => al.kill());
  await check('alerter', `${al.url}/metrics`);
});

let stack: Stack;
test('When forum-api and its worker are scraped (real PostgreSQL + Redis), then promtool accepts their metrics', async () => {
  stack = await startStack();
  stops.push(() => stack.stop());
  for (const entry of ['main', 'worker'] as const) {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const child = spawnEntry(entry, { ...stack.env, PORT: String(port), METRICS_PORT: String(metricsPort) });
    stops.push(() => child.kill());
    const url = `http://127.0.0.1:${metricsPort}/metrics`;
    await until(`forum-api ${entry} metrics`, async () => (await fetch(url).catch(() => undefined))?.ok);
    await check(`forum-api ${entry}`, url);
  }
});
