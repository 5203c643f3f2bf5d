// Runs against the deployed `forum` stack (scripts/test.sh phase e2e). Queries the stack's own InfluxDB from inside
// its container (it lives on an internal overlay network), with the password read there from the Docker secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { waitFor } from './lib/procs.js';

const exec = promisify(execFile);
const STACK = process.env.STACK ?? 'forum';
const docker = new Docker({ socketPath: '/var/run/docker.sock' });

async function influxContainer(): Promise<string> {
  const cs = await docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${STACK}_influxdb`], status: ['running'] } });
  if (!cs.length) throw new Error('no running influxdb task');
  return cs[0].Id;
}

/** InfluxQL against the stack's InfluxDB; returns rows of {name, tags..., columns...}. */
async function influx(q: string, db = 'telegraf'): Promise<Array<Record<string, any>>> {
  const id = await influxContainer();
  const { stdout } = await exec('docker', [
    'exec',
    id,
    'sh',
    '-c',
    'curl -fsS -G -u "${INFLUXDB_USER:-forum}:$(cat "$INFLUXDB_PASSWORD_FILE")" http://127.0.0.1:8086/query --data-urlencode "db=$1" --data-urlencode "epoch=ms" --data-urlencode "q=$2"',
    'sh',
    db,
    q,
  ]);
  const j = JSON.parse(stdout);
  const out: Array<Record<string, any>> = [];
  for (const r of j.results ?? []) {
    if (r.error) throw new Error(r.error);
    for (const s of r.series ?? [])
      for (const v of s.values ?? []) {
        const row: Record<string, any> = { _name: s.name, ...(s.tags ?? {}) };
        s.columns.forEach((c: string, i: number) => (row[c] = v[i]));
        out.push(row);
      }
  }
  return out;
}

async function serviceCreated(name: string): Promise<number> {
  const s = await docker.getService(`${STACK}_${name}`).inspect();
  return Date.parse(s.CreatedAt);
}
async function replicas(name: string): Promise<number> {
  return (await docker.getService(`${STACK}_${name}`).inspect()).Spec.Mode.Replicated?.Replicas ?? 0;
}
/** Tasks actually running (a replicated service with max_replicas_per_node may run fewer than desired). */
async function running(name: string): Promise<number> {
  const tasks = (await docker.listTasks({ filters: { service: [`${STACK}_${name}`], 'desired-state': ['running'] } })) as Array<{
    Status?: { State?: string };
  }>;
  return tasks.filter((t) => t.Status?.State === 'running').length;
}
async function scale(name: string, n: number): Promise<void> {
  await exec('docker', ['service', 'scale', '--detach', `${STACK}_${name}=${n}`]);
}
/** instance tags of the series that got points in the last 30 s. (Not SHOW TAG VALUES: InfluxDB 1.x's in-memory
 *  index ignores a time range there, so instances of replaced tasks would be listed forever.) */
async function recentInstances(measurement: string, where = ''): Promise<string[]> {
  const r = await influx(`SELECT count(*) FROM "${measurement}" WHERE time > now() - 30s${where} GROUP BY "instance"`);
  return [...new Set(r.map((x) => String(x.instance)))].sort();
}

const REQUIRED = ['nginx', 'redis', 'postgresql', 'haproxy', 'cpu', 'mem', 'disk', 'net', 'system', 'docker_container_cpu', 'snmp'];

/** Where each measurement comes from: its first point is due 60 s after both the agent side (metrics-agent,
 *  influxdb) and that source are up. On a cold deploy a source (e.g. nginx, which waits for the API) may become
 *  healthy minutes after the services were created: "within 60 s of deploy" counts from the stack being up. */
const SOURCE: Record<string, string[]> = {
  nginx: ['nginx'],
  redis: ['redis-0', 'redis-1', 'redis-2'],
  postgresql: ['pg-0', 'pg-1', 'pg-2'],
  haproxy: ['redis-proxy'],
  snmp: ['snmpd', 'snmp-poller'],
};
/** when the service's current task reached `running` (the earliest of its running tasks) */
async function runningSince(name: string): Promise<number> {
  const tasks = (await docker.listTasks({ filters: { service: [`${STACK}_${name}`], 'desired-state': ['running'] } })) as Array<{
    Status?: { State?: string; Timestamp?: string };
  }>;
  const ts = tasks.filter((t) => t.Status?.State === 'running').map((t) => Date.parse(t.Status!.Timestamp!));
  return ts.length ? Math.min(...ts) : Date.now();
}

test('When 60 s have passed since deploy, then every required measurement exists, each with a host tag', async () => {
  const agentUp = Math.max(await serviceCreated('metrics-agent'), await serviceCreated('influxdb'), await runningSince('metrics-agent'));
  const readyAt: Record<string, number> = {};
  for (const m of REQUIRED) {
    const src = SOURCE[m] ?? [];
    const since = await Promise.all(src.map(runningSince));
    // snmp needs both snmpd and the poller; the others need any one of their members
    const sourceUp = !since.length ? 0 : m === 'snmp' ? Math.max(...since) : Math.min(...since);
    readyAt[m] = Math.max(agentUp, sourceUp);
  }
  const deployedAt = Math.max(...Object.values(readyAt));
  const firstSeen: Record<string, number> = {};
  await waitFor(
    'all measurements',
    async () => {
      for (const m of REQUIRED) {
        if (firstSeen[m]) continue;
        const r = await influx(`SELECT * FROM "${m}" ORDER BY time ASC LIMIT 1`).catch(() => []);
        if (r.length) firstSeen[m] = r[0].time;
      }
      return REQUIRED.every((m) => firstSeen[m]);
    },
    Math.max(10_000, deployedAt + 90_000 - Date.now()),
    2000,
  ).catch((err) => {
    throw new Error(`${(err as Error).message}; missing: ${REQUIRED.filter((m) => !firstSeen[m]).join(', ')}`);
  });
  for (const m of REQUIRED) {
    assert.ok(firstSeen[m] - readyAt[m] <= 60_000, `${m} first point ${(firstSeen[m] - readyAt[m]) / 1000} s after its source and the agent were up`);
    const hosts = await influx(`SHOW TAG VALUES FROM "${m}" WITH KEY = "host"`);
    const key = m === 'snmp' ? 'hostname' : 'host';
    const tagged = m === 'snmp' ? await influx(`SHOW TAG VALUES FROM "snmp" WITH KEY = "${key}"`) : hosts;
    assert.ok(tagged.length >= 1 && tagged.every((h) => h.value), `${m} carries ${key}`);
  }
});

test("When the stack runs, then every pgpool task reports each backend's status and replication fields", async () => {
  // status/up come from SHOW POOL_BACKEND_STATS at every gather, lb_weight/replication_delay from SHOW POOL_NODES every
  // 30 s (services/metrics-agent/src/collectors/postgres.ts): every point must carry both
  const want = await running('pgpool');
  let rows: Array<Record<string, any>> = [];
  await waitFor(
    'pgpool points from every task for every backend',
    async () => {
      rows = await influx(
        `SELECT last("up") AS up, last("status") AS status, last("lb_weight") AS lb_weight, last("replication_delay") AS delay, last("select_cnt") AS selects FROM "pgpool" WHERE time > now() - 30s GROUP BY "server", "hostname"`,
      );
      return new Set(rows.map((r) => r.server)).size === want && rows.length === want * 3;
    },
    90_000,
    2000,
  ).catch((err) => {
    throw new Error(`${(err as Error).message}; want ${want} servers x 3 backends, got ${JSON.stringify(rows)}`);
  });
  for (const r of rows) {
    assert.equal(r.up, 1, `${r.server} sees ${r.hostname} ${r.status}`);
    assert.ok(['up', 'waiting'].includes(r.status), `${r.server} sees ${r.hostname} ${r.status}`);
    assert.ok(r.lb_weight > 0 && r.lb_weight <= 1, `${r.server}/${r.hostname} lb_weight ${r.lb_weight}`);
    assert.ok(Number.isInteger(r.delay) && r.delay >= 0, `${r.server}/${r.hostname} replication_delay ${r.delay}`);
    assert.ok(Number.isInteger(r.selects) && r.selects >= 0, `${r.server}/${r.hostname} select_cnt ${r.selects}`);
  }
});

test('When requests pass NGINX, then the log-shipper counts them by status class in nginx_responses', async () => {
  const edge = (process.env.EDGE_URL ?? `https://127.0.0.1:${process.env.EDGE_HTTPS_PORT ?? '443'}`).replace(/\/$/, '');
  // cumulative per NGINX container: the sum of each series' last value
  const total4xx = async () =>
    (await influx('SELECT last(status_4xx) FROM nginx_responses WHERE time > now() - 10m GROUP BY instance')).reduce((s, r) => s + Number(r.last ?? 0), 0);
  const before = await total4xx();
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${edge}/api/no-such-endpoint-${i}/`);
    await res.arrayBuffer();
    assert.equal(res.status, 404, `GET /api/no-such-endpoint-${i}/`);
  }
  const after = await waitFor(
    'nginx_responses.status_4xx to count the 20 requests',
    async () => {
      const n = await total4xx();
      return n >= before + 20 ? n : undefined;
    },
    60_000,
    2000,
  );
  assert.ok(after >= before + 20);
});

test('When several replicas run, then they are told apart: one instance tag per running nginx task and per api task', async () => {
  let want = { nginx: 0, api: 0 };
  await waitFor(
    'distinct instances',
    async () => {
      want = { nginx: await running('nginx'), api: await running('api') };
      const n = await recentInstances('nginx');
      const a = await recentInstances('http_requests_in_flight', ` AND "swarm_service" = 'api'`);
      return want.nginx > 0 && n.length === want.nginx && a.length === want.api;
    },
    60_000,
    2000,
  );
  const n = await recentInstances('nginx');
  assert.ok(
    n.every((x) => /^nginx@\d+\.\d+\.\d+\.\d+:8081$/.test(x)),
    n.join(','),
  );
  const hosts = await influx(`SELECT count(*) FROM "nginx" WHERE time > now() - 30s GROUP BY "host"`);
  assert.ok(hosts.length >= 1 && hosts.every((h) => h.host));
});

test('When api is scaled to 4, then a 4th instance shows', async (t) => {
  const before = await replicas('api');
  t.after(() => scale('api', before));
  await scale('api', 4);
  const inst = await waitFor(
    '4 api instances',
    async () => {
      const a = await recentInstances('http_requests_in_flight', ` AND "swarm_service" = 'api'`);
      return a.length >= 4 ? a : undefined;
    },
    90_000,
    2000,
  );
  assert.equal(new Set(inst).size, inst.length);
});

test('When InfluxDB is stopped and restarted, then no agent is lost and writes resume (outage points are back-filled)', async () => {
  const agentsBefore = (await docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${STACK}_metrics-agent`] } })).map((c) => c.Id).sort();
  assert.ok(agentsBefore.length >= 1);
  await scale('influxdb', 0);
  await waitFor(
    'influxdb stopped',
    async () => (await docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${STACK}_influxdb`] } })).length === 0,
    60_000,
    1000,
  );
  const downFrom = Date.now();
  await new Promise((r) => setTimeout(r, 25_000)); // the outage itself (not a readiness wait): ~2 gather intervals
  const downTo = Date.now();
  await scale('influxdb', 1);
  await waitFor('influxdb back', async () => (await influx('SHOW DATABASES').catch(() => [])).length > 0, 90_000, 1000);
  // the agents buffered while InfluxDB was down: points timestamped inside the outage arrive
  const inOutage = await waitFor(
    'outage points',
    async () => {
      const r = await influx(`SELECT count("active") FROM nginx WHERE time >= ${downFrom}ms AND time <= ${downTo}ms`);
      return r.length && r[0].count >= 2 ? r[0].count : undefined;
    },
    60_000,
    2000,
  );
  assert.ok(inOutage >= 2);
  const fresh = await waitFor('fresh points', async () => (await influx('SELECT count("active") FROM nginx WHERE time > now() - 20s'))[0]?.count, 60_000, 2000);
  assert.ok(fresh > 0);
  const agentsAfter = (await docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${STACK}_metrics-agent`] } })).map((c) => c.Id).sort();
  assert.deepEqual(agentsAfter, agentsBefore, 'no agent restarted');
});
