import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import Docker from 'dockerode';
import { pino } from 'pino';
import { startInfluxd, rows, waitFor, type Influxd } from '@forum/test-support';
import { startSnmpd, type Snmpd } from '../../../test/observability/lib/procs.js';
import { InfluxWriter, isInt } from '@forum/shared/influx';
import { pollAll, pollNode } from '../src/poller.js';
import { discoverNodes } from '../src/nodes.js';

let influx: Influxd;
let snmpd: Snmpd;
let silent: dgram.Socket;
let silentPort = 0;

before(async () => {
  [influx, snmpd] = await Promise.all([startInfluxd(), startSnmpd('obs-ro')]);
  // a "slow" agent: a UDP socket that swallows requests and never answers
  silent = dgram.createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  silentPort = silent.address().port;
});
after(async () => {
  silent?.close();
  await Promise.all([influx?.stop(), snmpd?.stop()]);
});

test('When a real snmpd (v2c, read-only view) is polled, then the seed OIDs come back as integer fields with sysName as hostname', async () => {
  const cpu = new Map<string, number[]>();
  const node = { name: 'n1', address: '127.0.0.1', port: snmpd.port };
  await waitFor('snmpd answers', async () => (await pollNode(node, { version: '2c', community: 'obs-ro' }, 1000, 0, cpu)).ok);
  // cpu_used_percent comes from the raw tick counters of two polls (snmpd's own ssCpu* need a minute of samples)
  const r = await waitFor(
    'cpu_used_percent',
    async () => {
      const x = await pollNode(node, { version: '2c', community: 'obs-ro' }, 1000, 0, cpu);
      return x.point?.fields.cpu_used_percent !== undefined ? x : undefined;
    },
    15000,
    1000,
  );
  const p = r.point!;
  const cpuPct = p.fields.cpu_used_percent as number;
  assert.ok(typeof cpuPct === 'number' && cpuPct >= 0 && cpuPct <= 100, String(cpuPct));
  const memPct = p.fields.mem_used_percent as number;
  assert.ok(memPct > 0 && memPct < 100);
  assert.equal(p.measurement, 'snmp');
  assert.equal(p.tags.hostname, 'obs-test-node');
  assert.equal(p.tags.agent_host, '127.0.0.1');
  for (const f of ['ssCpuIdle', 'ssCpuUser', 'ssCpuSystem', 'ssIOSent', 'ssIOReceive'])
    if (p.fields[f] !== undefined) assert.ok(isInt(p.fields[f]) && Number(p.fields[f]) >= 0, `${f} is an integer field`);
  for (const f of [
    'sysUpTimeInstance',
    'ssCpuRawIdle',
    'ssCpuRawUser',
    'memTotalReal',
    'memAvailReal',
    'memTotalFree',
    'dskTotal',
    'dskUsed',
    'dskAvail',
    'dskPercent',
  ])
    assert.ok(isInt(p.fields[f]) && Number(p.fields[f]) >= 0, `${f} is an integer field`);
  assert.equal(p.fields.sysLocation, 'obs-test-rack');
});

test('When the community is wrong, then there is no answer (the read-only community is enforced) and it is reported as a timeout', async () => {
  const r = await pollNode({ name: 'n1', address: '127.0.0.1', port: snmpd.port }, { version: '2c', community: 'wrong' }, 300, 0);
  assert.equal(r.ok, false);
  assert.match(r.error!, /time/i);
});

test('When all nodes are polled in one batch, then a slow agent times out, a dead one is reported, and the healthy one is written', async () => {
  const writer = new InfluxWriter({ url: influx.url, database: 'telegraf', logger: pino({ level: 'silent' }) });
  const nodes = [
    { name: 'good', address: '127.0.0.1', port: snmpd.port },
    { name: 'slow', address: '127.0.0.1', port: silentPort },
    { name: 'dead', address: '127.0.0.1', port: 9 },
  ];
  const t0 = Date.now();
  const { points, results } = await pollAll(nodes, { version: '2c', community: 'obs-ro' }, 500, 1);
  assert.ok(Date.now() - t0 < 3000, 'the batch is bounded by the timeout, not serialised');
  assert.deepEqual(
    results.map((r) => [r.node.name, r.ok]),
    [
      ['good', true],
      ['slow', false],
      ['dead', false],
    ],
  );
  writer.add(points);
  await writer.flush();
  assert.equal(writer.stats.lastError, undefined);
  const status = rows(await influx.query(`SELECT last("up") FROM snmp_status GROUP BY "node"`));
  assert.deepEqual(status.map((s) => `${s.node}=${s.last}`).sort(), ['dead=0', 'good=1', 'slow=0']);
  const snmpRows = rows(await influx.query(`SELECT "ssCpuIdle", "dskPercent" FROM snmp`));
  assert.equal(snmpRows.length, 1);
  const types = rows(await influx.query(`SHOW FIELD KEYS FROM snmp`));
  assert.equal(types.find((t) => t.fieldKey === 'memTotalReal')?.fieldType, 'integer');
});

test('When the real Swarm manager is asked which nodes run tasks of a stack, then nodes of other stacks are not listed', async (t) => {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const stack = `obssnmp${process.pid}`;
  const img = (await docker.listImages()).flatMap((i) => i.RepoTags ?? []).find((x) => x.startsWith('debian:trixie')) ?? 'debian:trixie-slim';
  const svc = await docker.createService({
    Name: `${stack}_probe`,
    Labels: { 'com.docker.stack.namespace': stack },
    TaskTemplate: { ContainerSpec: { Image: img, Command: ['sleep', '300'] }, RestartPolicy: { Condition: 'none' } },
    Mode: { Replicated: { Replicas: 1 } },
  });
  t.after(async () => {
    await docker
      .getService(svc.id)
      .remove()
      .catch(() => undefined);
  });
  assert.deepEqual(await discoverNodes(docker, `none${process.pid}`, 161), []);
  const nodes = await waitFor('task scheduled', async () => {
    const n = await discoverNodes(docker, stack, 1161, '127.0.0.1');
    return n.length > 0 ? n : undefined;
  });
  const info = await docker.info();
  assert.equal(nodes.length, 1);
  assert.equal(nodes[0].name, info.Name);
  assert.equal(nodes[0].port, 1161);
  // the node's own address when the swarm advertises a real one (ensure-docker.sh picks one where it can), else the
  // loopback address given for a node that advertises none
  const self = ((await docker.listNodes()) as Array<{ Description?: { Hostname?: string }; Status?: { Addr?: string } }>).find(
    (n) => n.Description?.Hostname === info.Name,
  );
  const addr = self?.Status?.Addr ?? '';
  assert.equal(nodes[0].address, !addr || addr === '0.0.0.0' || addr.startsWith('127.') ? '127.0.0.1' : addr);
});
