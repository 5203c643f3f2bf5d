// Failover drills against the deployed stack (STACK, default forum) under steady write + read load through the
// edge (EDGE_URL). Each drill prints "# DRILL {json}" with RTO, failed reads/writes, lost acknowledged writes and
// the time to full strength. Run: npm run test:drills, or NODE_EXTRA_CA_CERTS=secrets/tls_ca.pem (the edge's CA)
// node --test --test-concurrency=1 --import tsx test/drills/data-tier.test.ts
import { execFile, spawnSync } from 'node:child_process';
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '@forum/test-support';
import {
  containerOf,
  containersOf,
  docker,
  EDGE_URL,
  edgeFailure,
  pgPrimary,
  pgRoles,
  printTimeline,
  redisCli,
  redisMasterContainer,
  runDrill,
  STACK,
  waitFullStrength,
  type DrillReport,
} from './lib.js';

// RTO: the targets (PG 15 s, Redis 10 s; the project's, SPEC.md sets none) are figures each drill prints and
// BENCHMARKS.md records, not assertions: speed targets live in benchmarks, and machines of this kind differ 2-3x
// between sessions (the PG primary's RTO was 15-33 s in CI runs of two days, 6.5-9.9 s on a quiet day). What a drill
// asserts is that the failover HAPPENS: a write started after the last failed one succeeds while the drill still
// watches (DRILL_AFTER_MS, 40 s, inside the SLA's 50 s for a POST). A failover that does not happen at all fails
// (seen: repmgrd skipped its election, writes came back after 75 s).
const PG_RTO_TARGET_MS = 15_000;
const REDIS_RTO_TARGET_MS = 10_000;
const READ_ERROR_PCT_MAX = 0.1;
const kill = (container: string) => docker(['kill', container]);

before(async () => {
  const r = await fetch(`${EDGE_URL}/api/auth/`, { signal: AbortSignal.timeout(5000) }).catch((e: Error) => e);
  assert.ok(!(r instanceof Error) && r.status === 200, `the edge at ${EDGE_URL} must serve /api/auth/ (stack up?): ${edgeFailure(r)}`);
  const fs = await waitFullStrength(180_000);
  assert.ok(fs.ok, `stack not at full strength before the drills: ${fs.detail}`);
});

function common(r: DrillReport, target: number) {
  process.stdout.write(`# RTO ${r.drill} ${(r.rtoMs / 1000).toFixed(1)} s (target ${target / 1000} s: ${r.rtoMs <= target ? 'met' : 'MISSED'})\n`);
  if (r.faultAt && (r.rtoMs > target || !r.fullStrength || r.lost || r.readErrorPct > READ_ERROR_PCT_MAX)) printTimeline(r.faultAt);
  assert.equal(r.lost, 0, `${r.drill}: ${r.lost} acknowledged writes lost`);
  assert.ok(r.acked > 0, `${r.drill}: no write was acknowledged at all`);
  assert.ok(Number.isFinite(r.rtoMs), `${r.drill}: no write succeeded after the last failed one while the drill watched (no failover)`);
  assert.ok(r.fullStrength, `${r.drill}: not back to full strength: ${r.detail}`);
  // readers never notice a failover: signed-in reads are answered from a standby while the PG primary is
  // away and sessions from PostgreSQL while Redis is; 0.1 % leaves room for one unlucky read in ~1,000
  assert.ok(r.readErrorPct <= READ_ERROR_PCT_MAX, `${r.drill}: ${r.failedReads} failed reads (${r.readErrorPct} %): ${r.readErrors?.join(', ')}`);
}

test('When the PG primary is killed, then a standby takes over and the old primary rejoins as standby', { timeout: 400_000 }, async () => {
  const old = pgPrimary();
  const r = await runDrill('pg-primary', () => kill(containerOf(old)));
  common(r, PG_RTO_TARGET_MS);
  const roles = pgRoles();
  assert.equal(roles[old], 'standby', `old primary ${old} must be a standby now: ${JSON.stringify(roles)}`);
  // each standby's WAL receiver names every peer (entrypoint.sh widen_primary_conninfo), so at the next failover the
  // sibling finds the promoted node without waiting for repmgr's follow; the supervisor widens it within ~5 s
  const standbys = Object.entries(roles)
    .filter(([, r]) => r === 'standby')
    .map(([n]) => n);
  const conninfo = (n: string) => docker(['exec', containerOf(n), 'sh', '-c', 'grep ^primary_conninfo "$PGDATA/postgresql.auto.conf" | tail -1']);
  const widened = (n: string) => {
    const peers = Object.keys(roles).filter((p) => p !== n);
    const c = conninfo(n);
    return /target_session_attrs=primary/.test(c) && new RegExp(`host=${peers.join(',')}\\b`).test(c);
  };
  await waitFor('every standby to name every peer in primary_conninfo', () => standbys.every(widened), 60_000, 1000).catch(() => undefined);
  for (const n of standbys) assert.ok(widened(n), `${n}'s primary_conninfo must name every peer: ${conninfo(n)}`);
});

// The planned path (docs/CLUSTER.md, npm run pg:switchover): no failure detection and no election, so readers and
// writers should not notice it. Run as an operator would, while the drill's load runs.
test('When the PG primary is switched over (npm run pg:switchover), then nothing is lost and the old primary is a standby', { timeout: 600_000 }, async () => {
  const old = pgPrimary();
  let out = '';
  const r = await runDrill('pg-switchover', async () => {
    out = await new Promise<string>((resolve, reject) =>
      execFile(
        'bash',
        [new URL('../../scripts/pg-switchover.sh', import.meta.url).pathname],
        { encoding: 'utf8', timeout: 420_000, env: { ...process.env, STACK } },
        (err, stdout, stderr) => (err ? reject(new Error(`pg-switchover.sh failed: ${err.message}\n${stderr}`)) : resolve(`${stdout}${stderr}`)),
      ),
    );
  });
  process.stdout.write(out.replace(/^/gm, '# ') + '\n');
  process.stdout.write(`# pg-switchover: failed writes ${r.failedWrites}, failed reads ${r.failedReads}\n`);
  common(r, PG_RTO_TARGET_MS);
  const roles = pgRoles();
  assert.equal(roles[old], 'standby', `old primary ${old} must be a standby now: ${JSON.stringify(roles)}`);
  assert.equal(Object.values(roles).filter((x) => x === 'primary').length, 1, `one primary: ${JSON.stringify(roles)}`);
  // a pause left behind would mean no automatic failover at all afterwards
  const status = docker(['exec', containerOf(pgPrimary()), 'repmgr', '-f', '/etc/repmgr/repmgr.conf', 'service', 'status', '--csv']);
  assert.ok(!status.split('\n').some((l) => l.split(',')[6] === '1'), `repmgrd must run unpaused everywhere:\n${status}`);
});

test('When a PG standby is killed, then the stack recovers within the RTO, losing no acknowledged write', { timeout: 400_000 }, async () => {
  const standby = Object.entries(pgRoles()).find(([, r]) => r === 'standby')![0];
  common(await runDrill('pg-standby', () => kill(containerOf(standby))), PG_RTO_TARGET_MS);
});

test('When a pgpool task is killed, then the stack recovers within the RTO, losing no acknowledged write', { timeout: 400_000 }, async () => {
  common(await runDrill('pgpool-task', () => kill(containerOf('pgpool'))), PG_RTO_TARGET_MS);
});

test('When the Redis master is killed, then the stack recovers within the RTO, losing no acknowledged write', { timeout: 400_000 }, async () => {
  common(await runDrill('redis-master', () => kill(redisMasterContainer())), REDIS_RTO_TARGET_MS);
});

test('When a redis-proxy task is killed, then the stack recovers within the RTO, losing no acknowledged write', { timeout: 400_000 }, async () => {
  common(await runDrill('redis-proxy-task', () => kill(containerOf('redis-proxy'))), REDIS_RTO_TARGET_MS);
});

test('When every Redis node follows a dead address and the sentinels know no replica, then one master is restored', { timeout: 400_000 }, async () => {
  // Sentinel can elect only replicas it knows: after a RESET, with the monitored master a replica itself, it aborts
  // every failover ("no good slave"). images/sentinel/sentinel-janitor.sh's last resort must end that state.
  const members = ['redis-0', 'redis-1', 'redis-2'];
  for (const m of members) redisCli(containerOf(m), 6379, 'replicaof', '192.0.2.1', '6379'); // TEST-NET-1: nobody answers
  for (const s of containersOf('sentinel')) redisCli(s, 26379, 'sentinel', 'reset', 'mymaster');
  const t0 = Date.now();
  const since = new Date(t0 - 1000).toISOString();
  const roles = () =>
    members.map((m) => {
      try {
        const info = redisCli(containerOf(m), 6379, 'info', 'replication');
        const get = (k: string) => new RegExp(`^${k}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';
        return { m, role: get('role'), replicas: Number(get('connected_slaves') || 0) };
      } catch {
        return { m, role: 'down', replicas: 0 };
      }
    });
  let now = roles();
  let restoredMs = -1;
  while (Date.now() - t0 < 150_000) {
    now = roles();
    const masters = now.filter((r) => r.role === 'master');
    if (masters.length === 1 && masters[0].replicas === 2) {
      restoredMs = Date.now() - t0;
      break;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const logs = spawnSync('docker', ['service', 'logs', '--since', since, `${STACK}_sentinel`], { encoding: 'utf8', timeout: 30_000 });
  const lastResort = `${logs.stdout}${logs.stderr}`.includes('LAST RESORT');
  process.stdout.write(
    `# redis-masterless: ${restoredMs < 0 ? 'NOT restored' : `one master with 2 replicas after ${(restoredMs / 1000).toFixed(1)} s`} (janitor's last resort: ${lastResort ? 'yes' : 'no'}); ${JSON.stringify(now)}\n`,
  );
  assert.ok(restoredMs >= 0, `no single master with 2 replicas within 150 s: ${JSON.stringify(now)}`);
  const fs = await waitFullStrength(180_000);
  assert.ok(fs.ok, `not back to full strength: ${fs.detail}`);
});

test('When an api task is killed mid-request, then the stack recovers within the RTO, losing no acknowledged write', { timeout: 400_000 }, async () => {
  common(await runDrill('api-task', () => kill(containerOf('api'))), PG_RTO_TARGET_MS);
});
