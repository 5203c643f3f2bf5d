import './threadpool.js';
import os from 'node:os';
import { dockerClient } from '@forum/shared/docker';
import { callbackCounters, callbackGauges, createBaseApp, createLogger, installGracefulShutdown } from '@forum/shared';
import { InfluxWriter, type Point } from '@forum/shared/influx';
import { Agent } from './agent.js';
import { loadMetricsAgentConfig } from './config.js';
import { discoverDns, discoverDocker, parseStaticTargets, parseTargetMap } from './discovery.js';
import { HostCollector } from './collectors/host.js';
import { collectDocker } from './collectors/docker.js';
import type { Target } from './collectors/types.js';

const logger = createLogger('metrics-agent');
const cfg = loadMetricsAgentConfig();

let targetMap: ReturnType<typeof parseTargetMap>;
let statics: Target[];
try {
  targetMap = parseTargetMap(cfg.TARGETS);
  statics = parseStaticTargets(cfg.STATIC_TARGETS);
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'invalid configuration');
  process.exit(1);
}

const docker = cfg.DISCOVERY === 'docker' || cfg.DOCKER_METRICS ? dockerClient({ socketPath: cfg.DOCKER_SOCKET }) : undefined;
let hostname = cfg.NODE_HOSTNAME ?? os.hostname();
if (!cfg.NODE_HOSTNAME && docker) {
  // the node's hostname (the task's own hostname is its container id)
  docker
    .info()
    .then((i: { Name?: string }) => {
      if (i.Name) hostname = i.Name;
    })
    .catch((err: Error) => logger.warn({ err: err.message }, 'docker info failed; using the container hostname'));
}

const writer = new InfluxWriter({
  url: cfg.INFLUX_URL,
  database: cfg.INFLUX_DB,
  retentionPolicy: cfg.INFLUX_RP,
  username: cfg.INFLUX_USER,
  password: cfg.INFLUX_PASSWORD,
  bufferLimit: cfg.BUFFER_LIMIT,
  batchSize: cfg.BATCH_SIZE,
  logger,
});
writer.start();

const discover = async (): Promise<Target[]> => {
  const out = [...statics];
  if (cfg.DISCOVERY === 'docker' && docker) out.push(...(await discoverDocker(docker, targetMap, cfg.SCRAPE_NETWORKS, cfg.STACK_NAMESPACE || undefined)));
  if (cfg.DISCOVERY === 'dns') out.push(...(await discoverDns(targetMap, cfg.DNS_SERVICES)));
  return out;
};

const hostCollector = new HostCollector(cfg.HOST_PROC, cfg.DISK_PATHS);
const nodeSources: Record<string, () => Promise<Point[]>> = {};
if (cfg.HOST_METRICS) nodeSources.host = () => hostCollector.collect();
if (cfg.DOCKER_METRICS && docker) nodeSources.docker = () => collectDocker(docker, cfg.TIMEOUT_SECONDS * 1000, cfg.STACK_NAMESPACE || undefined);

const agent = new Agent({
  host: () => hostname,
  writer,
  discover,
  nodeSources,
  sourceIntervalsMs: { docker: cfg.DOCKER_INTERVAL_SECONDS * 1000 },
  ctx: {
    timeoutMs: cfg.TIMEOUT_SECONDS * 1000,
    creds: {
      redisUser: cfg.REDIS_USER,
      redisPassword: cfg.REDIS_PASSWORD,
      pgUser: cfg.PG_USER,
      pgPassword: cfg.PG_PASSWORD ?? cfg.PGPASSWORD,
      pgDatabase: cfg.PG_DATABASE,
    },
  },
  intervalMs: cfg.INTERVAL_SECONDS * 1000,
  logger,
});

const { app, metrics, finish } = createBaseApp({
  service: 'metrics-agent',
  logger,
  checks: { gathering: async () => agent.gathers > 0 || Promise.reject(new Error('no gather yet')) },
});
callbackGauges(metrics.registry, [['metrics_agent_buffered_points', 'Points waiting for InfluxDB', () => writer.stats.buffered]]);
callbackCounters(metrics.registry, [
  ['metrics_agent_dropped_points_total', 'Points dropped because the buffer was full', () => writer.stats.dropped],
  ['metrics_agent_written_points_total', 'Points written to InfluxDB', () => writer.stats.written],
  ['metrics_agent_write_errors_total', 'Failed InfluxDB writes', () => writer.stats.writeErrors],
]);
app.get('/metrics', metrics.handler);
finish(app);
const server = app.listen(cfg.PORT, () =>
  logger.info({ port: cfg.PORT, influx: cfg.INFLUX_URL, intervalSeconds: cfg.INTERVAL_SECONDS }, 'metrics-agent started'),
);
agent.start();
installGracefulShutdown([server], { logger, onClose: [() => agent.stop(), () => writer.stop()] });
process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection (ignored, agent keeps running)'));
