import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import pg from 'pg';
import { pino } from 'pino';
import { startInfluxd, startRedis as redisServer, rows, waitFor, type Influxd } from '@forum/test-support';
import { startNginx, startRedis, startHaproxy, startPostgres, type Proc } from './daemons.js';
import { Agent } from '../src/agent.js';
import { closeRedisConnections, collectRedis } from '../src/collectors/redis.js';
import { HostCollector } from '../src/collectors/host.js';
import { parseStaticTargets } from '../src/discovery.js';
import { prometheusToPoints } from '../src/collectors/prometheus.js';
import { InfluxWriter, int, isInt } from '@forum/shared/influx';
import { createMetrics } from '@forum/shared';

const logger = pino({ level: 'silent' });
let influx: Influxd;
let nginx: Proc, redis: Proc, haproxy: Proc, postgres: Proc;
let promServer: http.Server;
let promPort = 0;

before(async () => {
  [influx, nginx, redis, postgres] = await Promise.all([startInfluxd(), startNginx(), startRedis('s3cret-redis'), startPostgres()]);
  haproxy = await startHaproxy(redis.port);
  // a real prom-client registry served like every Node service's /metrics
  const m = createMetrics('api');
  m.httpDuration.observe({ method: 'GET', route: '/api/threads/', status: '200' }, 0.12);
  m.httpDuration.observe({ method: 'POST', route: '/api/auth/', status: '500' }, 1.5);
  promServer = http.createServer((req, res) => m.handler(req as never, res as never, () => undefined));
  await new Promise<void>((r) => promServer.listen(0, '127.0.0.1', () => r()));
  promPort = (promServer.address() as { port: number }).port;
});

after(async () => {
  promServer?.close();
  closeRedisConnections(); // kept across gathers, as in the agent
  await Promise.all([influx?.stop(), nginx?.stop(), redis?.stop(), haproxy?.stop(), postgres?.stop()]);
});

function makeAgent(writer: InfluxWriter, targets: string, nodeSources = {}) {
  return new Agent({
    host: () => 'node-a',
    writer,
    discover: async () => parseStaticTargets(targets),
    nodeSources,
    ctx: { timeoutMs: 2000, creds: { redisPassword: 's3cret-redis', pgUser: 'postgres', pgDatabase: 'postgres' } },
    intervalMs: 500,
    logger,
  });
}

async function fieldTypes(measurement: string): Promise<Record<string, string>> {
  const r = rows(await influx.query(`SHOW FIELD KEYS FROM "${measurement}"`));
  return Object.fromEntries(r.map((x) => [x.fieldKey, x.fieldType]));
}

test('When the agent gathers from real nginx, redis, haproxy, postgresql and a prom-client /metrics, then InfluxDB gets the names and types of Telegraf', async () => {
  const writer = new InfluxWriter({ url: influx.url, database: 'telegraf', logger });
  const targets = [
    `nginx=stub_status@127.0.0.1:${nginx.port}/stub_status`,
    `redis=redis@127.0.0.1:${redis.port}`,
    `redis-proxy=haproxy@127.0.0.1:${haproxy.port}/stats;csv`,
    `postgres=postgresql@127.0.0.1:${postgres.port}`,
    `api=prometheus@127.0.0.1:${promPort}/metrics`,
  ].join(',');
  const host = new HostCollector('/proc', ['/']);
  const agent = makeAgent(writer, targets, { host: () => host.collect() });
  // write some rows so counters move; two gathers so cpu has a delta
  const c = new pg.Client({ host: '127.0.0.1', port: postgres.port, user: 'postgres', database: 'postgres' });
  await c.connect();
  await c.query('CREATE TABLE t(x int); INSERT INTO t SELECT generate_series(1,100)');
  await c.end();
  const r1 = await agent.gather();
  assert.deepEqual(r1.failed, []);
  await fetch(`http://127.0.0.1:${nginx.port}/`);
  const r2 = await agent.gather();
  assert.deepEqual(r2.failed, []);
  await writer.flush();
  assert.equal(writer.stats.lastError, undefined);

  const nginxRows = rows(await influx.query(`SELECT * FROM nginx`));
  assert.ok(nginxRows.length >= 2);
  assert.equal(nginxRows[0].host, 'node-a');
  assert.equal(nginxRows[0].instance, `nginx@127.0.0.1:${nginx.port}`);
  assert.equal(nginxRows[0].port, String(nginx.port));
  assert.ok(nginxRows.at(-1)!.requests > nginxRows[0].requests, 'requests counter grows');
  assert.deepEqual(await fieldTypes('nginx'), {
    accepts: 'integer',
    active: 'integer',
    handled: 'integer',
    reading: 'integer',
    requests: 'integer',
    waiting: 'integer',
    writing: 'integer',
  });

  const redisTypes = await fieldTypes('redis');
  for (const f of [
    'clients',
    'blocked_clients',
    'used_memory',
    'used_memory_rss',
    'instantaneous_ops_per_sec',
    'keyspace_hits',
    'keyspace_misses',
    'evicted_keys',
    'connected_slaves',
    'master_repl_offset',
  ])
    assert.equal(redisTypes[f], 'integer', `redis ${f}`);
  for (const f of ['used_cpu_sys', 'used_cpu_user', 'keyspace_hitrate']) assert.equal(redisTypes[f], 'float', `redis ${f}`);
  const rr = rows(await influx.query(`SELECT last("clients") FROM redis GROUP BY replication_role, server, port`));
  assert.equal(rr[0].replication_role, 'master');

  const hap = rows(await influx.query(`SELECT * FROM haproxy WHERE proxy = 'redis'`));
  assert.ok(hap.some((x) => x.type === 'backend' && x.sv === 'BACKEND'));
  assert.ok(
    hap.some((x) => x.type === 'server' && x.sv === 'redis1' && x.status === 'UP'),
    JSON.stringify(hap.slice(0, 2)),
  );
  const hapTypes = await fieldTypes('haproxy');
  assert.equal(hapTypes.active_servers, 'integer');
  assert.equal(hapTypes['http_response.2xx'], 'integer');
  assert.equal(hapTypes.status, 'string');

  const pgRows = rows(await influx.query(`SELECT last("tup_inserted") AS ins, last("buffers_alloc") AS ba FROM postgresql GROUP BY db, server`));
  assert.ok(
    pgRows.find((x) => x.db === 'postgres' && x.ins >= 100),
    JSON.stringify(pgRows),
  );
  assert.ok(pgRows[0].server.includes(`port=${postgres.port}`));
  const pgTypes = await fieldTypes('postgresql');
  for (const f of ['numbackends', 'xact_commit', 'tup_fetched', 'deadlocks', 'buffers_alloc', 'checkpoints_timed']) assert.equal(pgTypes[f], 'integer', f);
  const rep = rows(await influx.query(`SELECT last("is_standby"), last("lag_seconds") FROM postgresql_replication`));
  assert.equal(rep[0].last, 0);

  const hist = rows(await influx.query(`SELECT "sum", "count", "0.5", "+Inf" FROM http_request_duration_seconds WHERE method = 'POST'`));
  assert.equal(hist.at(-1)!.count, 1);
  assert.equal(hist.at(-1)!['+Inf'], 1);
  assert.equal(hist.at(-1)!['0.5'], 0);
  const hs = rows(await influx.query(`SHOW TAG VALUES FROM http_request_duration_seconds WITH KEY IN ("swarm_service", "status", "instance")`));
  assert.deepEqual(hs.map((x) => `${x.key}=${x.value}`).sort(), ['instance=api@127.0.0.1:' + promPort, 'status=200', 'status=500', 'swarm_service=api']);

  for (const m of ['cpu', 'mem', 'disk', 'diskio', 'net', 'netstat', 'system', 'processes']) {
    const r = rows(await influx.query(`SELECT * FROM "${m}" LIMIT 1`));
    assert.ok(r.length === 1, `${m} written`);
    assert.equal(r[0].host, 'node-a');
  }
  assert.equal((await fieldTypes('cpu')).usage_idle, 'float');
  const mem = await fieldTypes('mem');
  assert.equal(mem.total, 'integer');
  assert.equal(mem.used_percent, 'float');
  const sys = await fieldTypes('system');
  assert.deepEqual([sys.load1, sys.n_cpus, sys.uptime], ['float', 'integer', 'integer']);
  const cpuTags = rows(await influx.query(`SHOW TAG VALUES FROM cpu WITH KEY = "cpu"`)).map((x) => x.value);
  assert.ok(cpuTags.includes('cpu-total'));
});

test('When a target is unreachable, then it is reported and the others are still gathered', async () => {
  const writer = new InfluxWriter({ url: influx.url, database: 'unreach', logger });
  const dead = await startRedis('x');
  await dead.stop();
  const agent = makeAgent(writer, `redis=redis@127.0.0.1:${dead.port},nginx=stub_status@127.0.0.1:${nginx.port}/stub_status`);
  const r = await agent.gather();
  assert.equal(r.failed.length, 1);
  assert.match(r.failed[0].target, /^redis@/);
  await writer.flush();
  const up = rows(await influx.query(`SELECT last("up") FROM agent_target GROUP BY swarm_service`, 'unreach'));
  assert.deepEqual(up.map((x) => `${x.swarm_service}=${x.last}`).sort(), ['nginx=1', 'redis=0']);
});

/** Resolves once Date.now() has moved on from its value at the call. */
async function nextMillisecond(): Promise<void> {
  const t = Date.now();
  while (Date.now() === t) await new Promise((r) => setImmediate(r));
}

test('When a node source has its own longer period, then it is gathered at the first gather and then only once that period has passed', async () => {
  const writer = new InfluxWriter({ url: influx.url, database: 'periods', logger });
  let dockerCalls = 0;
  const agent = new Agent({
    host: () => 'node-a',
    writer,
    discover: async () => [],
    nodeSources: {
      host: async () => [{ measurement: 'every_gather', tags: {}, fields: { v: int(1) } }],
      docker: async () => [{ measurement: 'own_period', tags: {}, fields: { n: int(++dockerCalls) } }],
    },
    sourceIntervalsMs: { docker: 60_000 },
    ctx: { timeoutMs: 2000, creds: {} },
    intervalMs: 10_000,
    logger,
  });
  for (let i = 0; i < 3; i++) {
    await agent.gather();
    await nextMillisecond(); // distinct timestamps, so InfluxDB keeps each gather's point
  }
  await writer.flush();
  const count = async (m: string) => rows(await influx.query(`SELECT count(*) FROM ${m}`, 'periods'))[0] as Record<string, number>;
  assert.equal((await count('every_gather')).count_v, 3);
  assert.equal((await count('own_period')).count_n, 1);
  assert.equal(dockerCalls, 1, 'the source itself is not called while it is not due');
});

test('When InfluxDB is out, then the agent keeps gathering and buffers, and resumes writes with nothing lost', async () => {
  const writer = new InfluxWriter({ url: influx.url, database: 'outage', logger, bufferLimit: 10_000 });
  const agent = makeAgent(writer, `nginx=stub_status@127.0.0.1:${nginx.port}/stub_status`);
  await agent.gather();
  await writer.flush();
  assert.equal(writer.stats.buffered, 0);
  await influx.kill();
  for (let i = 0; i < 3; i++) {
    await nextMillisecond(); // points carry ms timestamps: two gathers in one ms would be one point in InfluxDB
    const r = await agent.gather(); // must not throw while InfluxDB is down
    assert.equal(r.failed.length, 0);
  }
  await writer.flush();
  assert.ok(writer.stats.buffered > 0, 'points are buffered during the outage');
  assert.ok(writer.stats.writeErrors > 0);
  await influx.start();
  await waitFor(
    'writes resume',
    async () => {
      await writer.flush();
      return writer.stats.buffered === 0;
    },
    20000,
    200,
  );
  const n = rows(await influx.query(`SELECT count("active") FROM nginx`, 'outage'));
  assert.equal(n[0].count, 4, 'all four gathers made it');
  assert.equal(writer.stats.dropped, 0);
});

test('When InfluxDB accepts but never answers, then the flush fails in bounded time and retries: the writer is not wedged', async () => {
  const net = await import('node:net');
  const sockets: import('node:net').Socket[] = [];
  const srv = net.createServer((s) => sockets.push(s)); // never answers
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  try {
    const writer = new InfluxWriter({ url: `http://127.0.0.1:${port}`, database: 'x', logger, timeoutMs: 300 });
    writer.add([{ measurement: 'm', tags: {}, fields: { v: 1 } }]);
    const t0 = Date.now();
    await writer.flush();
    assert.ok(Date.now() - t0 < 5000, `flush returned after ${Date.now() - t0} ms`);
    assert.equal(writer.stats.writeErrors, 1);
    assert.equal(writer.stats.buffered, 1);
    await writer.flush();
    assert.equal(writer.stats.writeErrors, 2, 'the next flush tries again');
  } finally {
    sockets.forEach((s) => s.destroy());
    srv.close();
  }
});

test('When an empty buffer is flushed, then later flushes are not blocked', async () => {
  const writer = new InfluxWriter({ url: influx.url, database: 'emptyfirst', logger });
  await writer.flush(); // nothing queued yet, as at agent start
  writer.add([{ measurement: 'm', tags: { host: 'h' }, fields: { v: int(1) } }]);
  await writer.flush();
  assert.equal(writer.stats.written, 1);
  assert.equal(rows(await influx.query('SELECT * FROM m', 'emptyfirst')).length, 1);
});

test('When the agent has its own Redis ACL user (PING and INFO only, as in the stack), then it gathers with it', async () => {
  const r = await redisServer({ prefix: 'obs-redis-acl-' });
  try {
    // the stack's rule for `metrics` (images/redis/entrypoint.sh)
    r.cli('ACL', 'SETUSER', 'metrics', 'on', '>pw-metrics', '+ping', '+info', '+quit');
    const target = { kind: 'redis' as const, service: 'redis-1', address: '127.0.0.1', port: r.port };
    const [p] = await collectRedis(target, { timeoutMs: 2000, creds: { redisUser: 'metrics', redisPassword: 'pw-metrics' } });
    assert.equal(p.tags.replication_role, 'master');
    closeRedisConnections();
    await assert.rejects(collectRedis(target, { timeoutMs: 2000, creds: { redisUser: 'nobody', redisPassword: 'pw-metrics' } }), /WRONGPASS|invalid/i);
  } finally {
    closeRedisConnections();
    await r.stop();
  }
});

test('When Redis is gathered repeatedly, then one connection is kept, it comes back after a Redis restart, and a wrong password is reported', async () => {
  const r = await redisServer({ password: 'pw-keep', prefix: 'obs-redis-keep-' });
  let back: Awaited<ReturnType<typeof redisServer>> | undefined;
  try {
    const target = { kind: 'redis' as const, service: 'redis-0', address: '127.0.0.1', port: r.port };
    const ctx = { timeoutMs: 2000, creds: { redisPassword: 'pw-keep' } };
    const received = async () => Number((await collectRedis(target, ctx))[0].fields.total_connections_received);
    const first = await received();
    for (let i = 0; i < 3; i++) await received();
    assert.equal(await received(), first, 'no new connection per gather');
    const [p] = await collectRedis(target, ctx);
    assert.equal(p.tags.replication_role, 'master');
    assert.ok(isInt(p.fields.clients) && typeof p.fields.keyspace_hitrate === 'number');

    await r.stop();
    await assert.rejects(collectRedis(target, ctx), /redis 127\.0\.0\.1:\d+/);
    back = await redisServer({ password: 'pw-keep', port: r.port, prefix: 'obs-redis-keep-' });
    await waitFor('scrapes again after the restart', async () => (await collectRedis(target, ctx).catch(() => undefined))?.length, 10_000, 200);

    closeRedisConnections();
    await assert.rejects(collectRedis(target, { ...ctx, creds: { redisPassword: 'wrong' } }), /WRONGPASS|invalid password|NOAUTH/i);
  } finally {
    closeRedisConnections();
    await back?.stop();
  }
});

test('When Prometheus metrics are converted, then the fields follow Telegraf v1 (counter, gauge, histogram)', () => {
  const pts = prometheusToPoints(
    '# TYPE req_total counter\nreq_total{code="200"} 5\n# TYPE inflight gauge\ninflight 2\n# TYPE d histogram\nd_bucket{le="0.1"} 1\nd_bucket{le="+Inf"} 3\nd_sum 1.5\nd_count 3\nuntyped_x 7\n',
  );
  const by = Object.fromEntries(pts.map((p) => [p.measurement, p]));
  assert.deepEqual(by.req_total.fields, { counter: 5 });
  assert.deepEqual(by.req_total.tags, { code: '200' });
  assert.deepEqual(by.inflight.fields, { gauge: 2 });
  assert.deepEqual(by.d.fields, { '0.1': 1, '+Inf': 3, sum: 1.5, count: 3 });
  assert.deepEqual(by.untyped_x.fields, { value: 7 });
  assert.ok(isInt(int(5)) && Number(int(5.7)) === 5);
});
