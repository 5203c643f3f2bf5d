// No secret value appears in the environment or command line of any process of the stack while its services START:
// every service is restarted once, and meanwhile this process watches every process of the stack's containers from
// the host's /proc (the test runs as root on the engine's host), so an entrypoint's short child (psql, pg_enc, curl,
// redis-cli, a healthcheck) is read too, not only what happens to run when a sampling scan looks (06-proc-secrets).
//
// Order: the stateless services first, in two waves (each service rolls under its own update_config, so the stack
// keeps serving); then the data tier one member per tier at a time (pg-N beside redis-N), each waiting until its own
// cluster is whole again, so a restarted primary or master fails over like in the drills and rejoins.
// Env: STACK_NAME (forum), PROC_WATCH_INTERVAL_MS (50), RESTART_TIMEOUT_MS (240000 per step).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { STACK, containerOf as runningContainerOf, docker, secretValues, stackServices } from './support.js';
import { waitForWith } from '@forum/test-support';

// the certificates are public; everything else in secrets/ is a secret (the CA's and the edge's keys included)
const secrets = secretValues().filter((s) => !/^tls_(ca|cert)\.pem$/.test(s.name));

const INTERVAL_MS = Number(process.env.PROC_WATCH_INTERVAL_MS ?? 50);
const STEP_MS = Number(process.env.RESTART_TIMEOUT_MS ?? 240_000);
const untilStep = waitForWith({ timeoutMs: STEP_MS, intervalMs: 1000 });
const DATA_TIER = /^(pg|redis)-\d+$/;

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined; // gone, or not ours to read
  }
};

/** Watches the host's /proc: every new (pid, command) of a container of the stack has its environ and cmdline read. */
class ProcWatch {
  readonly findings = new Map<string, string>();
  readonly seen = new Set<string>();
  private containerOf = new Map<string, string | null>(); // pid -> container id (null: not the stack's)
  private stackIds = new Set<string>();
  private names = new Map<string, string>();
  private stopped = false;
  private done: Promise<void> | undefined;
  passes = 0;

  async refreshContainers(): Promise<void> {
    const out = await docker('ps', '-a', '--no-trunc', '--filter', `label=com.docker.stack.namespace=${STACK}`, '--format', '{{.ID}} {{.Names}}');
    for (const line of out.split('\n').filter(Boolean)) {
      const [id, name] = line.split(' ');
      if (!this.stackIds.has(id)) this.containerOf.clear(); // a pid seen before its container was listed
      this.stackIds.add(id);
      this.names.set(id, name);
    }
  }

  private container(pid: string): string | null {
    let c = this.containerOf.get(pid);
    if (c !== undefined) return c;
    const cg = read(`/proc/${pid}/cgroup`);
    if (cg === undefined) return null;
    const m = /[/-]([0-9a-f]{64})(?:\.scope)?$/m.exec(cg);
    c = m && this.stackIds.has(m[1]) ? m[1] : null;
    this.containerOf.set(pid, c);
    return c;
  }

  private pass(): void {
    this.passes++;
    const live = new Set<string>();
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      live.add(pid);
      const c = this.container(pid);
      if (!c) continue;
      const comm = read(`/proc/${pid}/comm`)?.trim();
      if (comm === undefined) continue;
      const key = `${pid}:${comm}`;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      for (const kind of ['environ', 'cmdline']) {
        const text = read(`/proc/${pid}/${kind}`);
        if (!text) continue;
        for (const s of secrets) {
          if (text.includes(s.value))
            this.findings.set(`${c}/${pid}/${kind}/${s.name}`, `${this.names.get(c) ?? c} pid ${pid} (${comm}): ${s.name} in its ${kind}`);
        }
      }
    }
    for (const pid of this.containerOf.keys()) if (!live.has(pid)) this.containerOf.delete(pid);
  }

  start(): void {
    this.done = (async () => {
      let lastRefresh = 0;
      while (!this.stopped) {
        if (Date.now() - lastRefresh > 1000) {
          await this.refreshContainers().catch(() => undefined);
          lastRefresh = Date.now();
        }
        this.pass();
        await new Promise((r) => setTimeout(r, INTERVAL_MS));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

async function replicasReady(service: string): Promise<boolean> {
  const out = await docker('service', 'ls', '--filter', `name=${service}`, '--format', '{{.Name}} {{.Replicas}}');
  const line = out.split('\n').find((l) => l.startsWith(`${service} `));
  const m = line && /(\d+)\/(\d+)/.exec(line);
  return !!m && m[1] === m[2] && m[2] !== '0';
}

/**
 * Every task of the service was replaced since `since` and is running (healthy where it has a healthcheck): its
 * start-up has happened under the watch. Swarm's own "completed" comes a monitor period later, which is not needed.
 */
async function restarted(service: string, since: number): Promise<boolean> {
  const state = (await docker('service', 'inspect', '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}', service)).trim();
  if (state === 'rollback_completed' || state === 'paused' || state === 'rollback_paused') throw new Error(`${service}: update ${state}`);
  if (!(await replicasReady(service))) return false;
  const ids = (await docker('ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`)).split('\n').filter(Boolean);
  if (ids.length === 0) return false;
  const rows = (await docker('inspect', '--format', '{{.Created}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}', ...ids))
    .split('\n')
    .filter(Boolean);
  return rows.every((r) => {
    const [created, health] = r.split(' ');
    return Date.parse(created) >= since && (health === 'healthy' || health === 'none');
  });
}

/** a running container of the stack's service on this engine, or '' (support.ts's throws when there is none) */
const containerOf = (service: string) => runningContainerOf(service).catch(() => '');

/** PostgreSQL is whole: one primary with 2 streaming standbys; Redis: one master with 2 online replicas */
async function dataTierWhole(kind: 'pg' | 'redis'): Promise<boolean> {
  for (const n of [0, 1, 2]) {
    const c = await containerOf(`${kind}-${n}`);
    if (!c) continue;
    if (kind === 'pg') {
      const out = await docker(
        'exec',
        c,
        'psql',
        '-XAtq',
        '-d',
        'postgres',
        '-c',
        "select not pg_is_in_recovery(), (select count(*) from pg_stat_replication where state = 'streaming')",
      ).catch(() => '');
      if (out.trim() === 't|2') return true;
    } else {
      // the password reaches redis-cli on stdin (--askpass), never in an environment or argument the watch would see
      const out = await docker('exec', c, 'sh', '-c', 'redis-cli --no-auth-warning --askpass info replication </run/secrets/redis_password').catch(() => '');
      if (/role:master/.test(out) && /connected_slaves:2/.test(out) && (out.match(/state=online/g) ?? []).length === 2) return true;
    }
  }
  return false;
}

test(
  'When every service of the stack restarts once, then no process started meanwhile has a secret value in its environment or command line',
  { timeout: 30 * 60_000 },
  async (t) => {
    assert.ok(secrets.length >= 8, `secret values to look for: ${secrets.map((s) => s.name).join(', ')}`);
    // the watch must be able to see a short process: a canary value (not a real secret) in the environment of a
    // 1-second `docker exec` in a container of the stack has to be found
    const canary = { name: 'canary', value: `canary-${randomBytes(12).toString('hex')}` };
    secrets.push(canary);
    const watch = new ProcWatch();
    await watch.refreshContainers();
    watch.start();
    let t0 = Date.now();
    try {
      const any = await containerOf('api');
      assert.ok(any, 'an api container for the canary');
      // after the first whole pass (it reads every process of the host once, which under load takes longer than the
      // canary lives); then one 1-second canary after another until one is seen, and how many it took is printed
      await untilStep('the watch finished its first pass', async () => watch.passes >= 2);
      let canaries = 0;
      await untilStep('the watch saw the canary', async () => {
        if ([...watch.findings.keys()].some((k) => k.endsWith('/environ/canary'))) return true;
        canaries++;
        await docker('exec', '-e', `CANARY=${canary.value}`, any, 'sleep', '1');
        return [...watch.findings.keys()].some((k) => k.endsWith('/environ/canary'));
      });
      t.diagnostic(`canary seen after ${canaries} 1-second exec(s), ${watch.passes} passes`);
      for (const k of [...watch.findings.keys()]) if (k.endsWith('/canary')) watch.findings.delete(k);
      secrets.pop();
      const services = await stackServices();
      const stateless = services.filter((s) => !DATA_TIER.test(s.slice(STACK.length + 1)));
      const members = services.filter((s) => DATA_TIER.test(s.slice(STACK.length + 1))).sort();
      assert.ok(members.length >= 6 && stateless.length >= 10, `services: ${services.join(' ')}`);
      t0 = Date.now();
      // two waves: what the others connect to (pgpool, redis-proxy, sentinel, docker-proxy, ...), then its clients.
      // All at once, the clients' start-up (the api's migrations and admin check) met pgpools that were themselves
      // starting on a host under load, failed for 60 s and made Swarm roll the api's update back.
      const clients = /_(api|worker|nginx|ipblock|autoscaler|alerter|metrics-agent|snmp-poller|backup)$/;
      for (const wave of [stateless.filter((s) => !clients.test(s)), stateless.filter((s) => clients.test(s))]) {
        const since = Date.now() - 1000; // the engine's clock is this host's
        await Promise.all(wave.map((s) => docker('service', 'update', '--force', '--detach', s)));
        for (const s of wave) await untilStep(`${s} restarted and healthy`, () => restarted(s, since));
      }
      t.diagnostic(`stateless services restarted in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      // one member of each tier at a time (pg-N beside redis-N): each waits until its own cluster is whole again, so
      // a tier never has two members restarting, and the two tiers do not wait for each other
      const tiers = (['pg', 'redis'] as const).map((kind) => ({ kind, members: members.filter((m) => m.slice(STACK.length + 1).startsWith(kind)) }));
      for (let i = 0; i < Math.max(...tiers.map((x) => x.members.length)); i++) {
        await Promise.all(
          tiers
            .filter(({ members: ms }) => ms[i])
            .map(async ({ kind, members: ms }) => {
              const m = ms[i];
              const t1 = Date.now();
              await docker('service', 'update', '--force', '--detach', m);
              await untilStep(`${m} restarted and healthy`, () => restarted(m, t1 - 1000));
              await untilStep(`${kind} whole again after ${m}`, () => dataTierWhole(kind));
              t.diagnostic(`${m} restarted, its cluster whole again in ${((Date.now() - t1) / 1000).toFixed(0)} s`);
            }),
        );
      }
    } finally {
      // also when the canary or a restart fails: a running watch would keep the test process alive for good
      await watch.stop();
    }
    t.diagnostic(`${watch.seen.size} processes of the stack read over ${watch.passes} passes of /proc in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    // the watch saw the restarts: many processes, in more containers than the stack runs at once
    assert.ok(watch.seen.size > 200, `only ${watch.seen.size} processes seen: the watch did not see the stack's processes`);
    const report = [...watch.findings.values()];
    assert.deepEqual(report, [], `secret values in process environments or command lines:\n${report.join('\n')}`);
  },
);
