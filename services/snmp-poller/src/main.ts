import { dockerClient } from '@forum/shared/docker';
import { callbackCounters, callbackGauges, createBaseApp, createLogger, installGracefulShutdown } from '@forum/shared';
import { InfluxWriter } from '@forum/shared/influx';
import { loadSnmpPollerConfig } from './config.js';
import { discoverNodes } from './nodes.js';
import { pollAll, type SnmpAuth, type SnmpNode } from './poller.js';

const logger = createLogger('snmp-poller');
const cfg = loadSnmpPollerConfig();
if (cfg.SNMP_VERSION === '2c' && !cfg.SNMP_COMMUNITY) {
  logger.fatal('SNMP_COMMUNITY (or SNMP_COMMUNITY_FILE) is required for SNMP v2c');
  process.exit(1);
}
if (cfg.SNMP_VERSION === '3' && !cfg.SNMP_V3_USER) {
  logger.fatal('SNMP_V3_USER is required for SNMP v3');
  process.exit(1);
}
const stack = cfg.STACK_NAMESPACE ?? cfg.STACK_NAME;
const auth: SnmpAuth = {
  version: cfg.SNMP_VERSION,
  community: cfg.SNMP_COMMUNITY,
  v3: cfg.SNMP_V3_USER
    ? {
        user: cfg.SNMP_V3_USER,
        authProtocol: cfg.SNMP_V3_AUTH_PROTOCOL,
        authKey: cfg.SNMP_V3_AUTH_KEY,
        privProtocol: cfg.SNMP_V3_PRIV_PROTOCOL,
        privKey: cfg.SNMP_V3_PRIV_KEY,
      }
    : undefined,
};

const docker = cfg.DOCKER_HOST_URL
  ? dockerClient({ host: new URL(cfg.DOCKER_HOST_URL).hostname, port: Number(new URL(cfg.DOCKER_HOST_URL).port || 2375) })
  : dockerClient({ socketPath: cfg.DOCKER_SOCKET });
const writer = new InfluxWriter({ url: cfg.INFLUX_URL, database: cfg.INFLUX_DB, username: cfg.INFLUX_USER, password: cfg.INFLUX_PASSWORD, logger });
writer.start();

const staticNodes: SnmpNode[] = cfg.STATIC_NODES.map((s) => {
  const [address, port] = s.split(':');
  return { name: address, address, port: Number(port ?? cfg.SNMP_PORT) };
});
let nodes: SnmpNode[] = [...staticNodes];
let lastDiscovery = 0;
let polls = 0;
const down = new Set<string>();

async function discover(): Promise<void> {
  try {
    const found = await discoverNodes(docker, stack, cfg.SNMP_PORT, cfg.LOOPBACK_NODE_ADDRESS);
    const before = new Set(nodes.map((n) => n.name));
    nodes = [...staticNodes, ...found];
    for (const k of cpuState.keys()) if (!nodes.some((n) => `${n.address}:${n.port}` === k)) cpuState.delete(k);
    const after = new Set(nodes.map((n) => n.name));
    const joined = [...after].filter((n) => !before.has(n));
    const left = [...before].filter((n) => !after.has(n));
    if (joined.length || left.length) logger.info({ joined, left, nodes: nodes.length }, 'node list changed');
    lastDiscovery = Date.now();
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'swarm node discovery failed; keeping the previous node list');
  }
}

const nodesGauge = { up: 0, total: 0 };
const cpuState = new Map<string, number[]>();
async function poll(): Promise<void> {
  if (Date.now() - lastDiscovery >= cfg.DISCOVERY_INTERVAL_SECONDS * 1000) await discover();
  const { points, results } = await pollAll(nodes, auth, cfg.SNMP_TIMEOUT_MS, cfg.SNMP_RETRIES, cpuState);
  writer.add(points);
  void writer.flush();
  polls += 1;
  nodesGauge.total = results.length;
  nodesGauge.up = results.filter((r) => r.ok).length;
  for (const r of results) {
    if (!r.ok && !down.has(r.node.name)) logger.warn({ node: r.node.name, address: r.node.address, err: r.error }, 'snmp agent unreachable');
    if (r.ok && down.has(r.node.name)) logger.info({ node: r.node.name }, 'snmp agent reachable again');
    if (r.ok) down.delete(r.node.name);
    else down.add(r.node.name);
  }
}

let running = false;
const tick = () => {
  if (running) return;
  running = true;
  poll()
    .catch((err) => logger.error({ err: (err as Error).message }, 'poll failed'))
    .finally(() => (running = false));
};
tick();
const timer = setInterval(tick, cfg.POLL_INTERVAL_SECONDS * 1000);

const { app, metrics, finish } = createBaseApp({
  service: 'snmp-poller',
  logger,
  checks: { polled: async () => polls > 0 || Promise.reject(new Error('no poll yet')) },
});
callbackGauges(metrics.registry, [
  ['snmp_nodes', 'Nodes polled', () => nodesGauge.total],
  ['snmp_nodes_up', 'Nodes that answered the last poll', () => nodesGauge.up],
]);
callbackCounters(metrics.registry, [['snmp_dropped_points_total', 'Points dropped because the buffer was full', () => writer.stats.dropped]]);
app.get('/metrics', metrics.handler);
app.get('/v1/nodes', (_req, res) => res.json({ nodes, down: [...down], lastDiscovery: new Date(lastDiscovery).toISOString() }));
finish(app);
const server = app.listen(cfg.PORT, () => logger.info({ port: cfg.PORT, stack }, 'snmp-poller started'));
installGracefulShutdown([server], { logger, onClose: [() => clearInterval(timer), () => writer.stop()] });
