import os from 'node:os';
import { dockerClient } from '@forum/shared/docker';
import { callbackCounters, callbackGauges, createBaseApp, createLogger, installGracefulShutdown } from '@forum/shared';
import { InfluxWriter } from '@forum/shared/influx';
import { loadLogShipperConfig } from './config.js';
import { apiToEcs, docId, indexFor, nginxAccessToEcs, nginxErrorToEcs, type Source } from './ecs.js';
import { EsShipper } from './shipper.js';
import { LogFollower } from './follower.js';
import { ResponseCounters } from './counters.js';
import { SyslogReceiver } from './syslog.js';

const logger = createLogger('log-shipper');
const cfg = loadLogShipperConfig();

const docker = dockerClient({ socketPath: cfg.DOCKER_SOCKET });
let hostname = cfg.NODE_HOSTNAME ?? os.hostname();
if (!cfg.NODE_HOSTNAME)
  docker
    .info()
    .then((i: { Name?: string }) => (hostname = i.Name ?? hostname))
    .catch(() => undefined);

const shipper = new EsShipper({
  node: cfg.ES_URL || 'http://elasticsearch.invalid:9200',
  username: cfg.ES_USERNAME,
  password: cfg.ES_PASSWORD,
  apiKey: cfg.ES_API_KEY,
  pipeline: cfg.ES_PIPELINE,
  bufferLimit: cfg.BUFFER_LIMIT,
  batchSize: cfg.BATCH_SIZE,
  logger,
});
if (cfg.ES_URL) shipper.start();
else logger.warn('ES_URL is not set: logs are not shipped to Elasticsearch (NGINX response counters still go to InfluxDB)');

const counters = new ResponseCounters();
const influx = cfg.INFLUX_URL
  ? new InfluxWriter({ url: cfg.INFLUX_URL, database: cfg.INFLUX_DB, username: cfg.INFLUX_USER, password: cfg.INFLUX_PASSWORD, logger })
  : undefined;
influx?.start();
const counterTimer = influx
  ? setInterval(() => {
      influx.add(counters.points());
    }, cfg.COUNTER_INTERVAL_SECONDS * 1000)
  : undefined;

let lines = 0;
let unparsed = 0;
// NGINX's access line (configs/nginx/nginx.conf, log_format json) carries its status as a bare number
const STATUS_RE = /"status":(\d{3})[,}]/;
/** One line of a container of `src.service` (NGINX or api/worker), from the Docker API or from NGINX's syslog. */
const handleLine = (line: string, ts: string, src: Source): void => {
  lines += 1;
  const nginx = cfg.NGINX_SERVICES.includes(src.service);
  if (!cfg.ES_URL && nginx) {
    // Without Elasticsearch an NGINX line only feeds the response counters: its status is read without building the
    // ECS document (~9 us of the ~30 us this process spent per request at the edge; BENCHMARKS.md). A line that is
    // not an access line still goes through the parsers, so `unparsed` counts the same lines either way.
    const m = STATUS_RE.exec(line);
    if (m && line.startsWith('{')) {
      counters.count(src.containerId, src.containerName, src.node, Number(m[1]));
      return;
    }
  }
  const fallback = new Date(ts).toISOString();
  let doc;
  if (nginx) {
    doc = nginxAccessToEcs(line, src, fallback) ?? nginxErrorToEcs(line, src, fallback);
    const status = (doc as { http?: { response?: { status_code?: number } } } | undefined)?.http?.response?.status_code;
    if (status !== undefined) counters.count(src.containerId, src.containerName, src.node, status);
  } else {
    doc = apiToEcs(line, src, fallback);
  }
  if (!doc) {
    unparsed += 1;
    return;
  }
  if (!cfg.ES_URL) return;
  shipper.add(indexFor(cfg.INDEX_PREFIX, String(doc['@timestamp'])), docId(src, ts, line), doc);
};
// Without Elasticsearch only NGINX's lines are used (the response counters): following the api's and worker's logs
// too cost dockerd and this process a line per request for nothing (BENCHMARKS.md, "Load test": 5.7 % -> 3.5 % CPU).
const followed = cfg.ES_URL ? [...cfg.NGINX_SERVICES, ...cfg.API_SERVICES] : [...cfg.NGINX_SERVICES];
const follower = new LogFollower(docker, followed, () => hostname, handleLine, logger, { lookbackSeconds: cfg.LOOKBACK_SECONDS, stack: cfg.STACK_NAMESPACE });
void follower.start();

// NGINX's access lines arrive here over UDP; its stdout (followed above) then carries only its error log, and the
// access lines too while nginx-agent cannot resolve this service
const syslog = cfg.SYSLOG_PORT
  ? new SyslogReceiver({
      port: cfg.SYSLOG_PORT,
      service: cfg.NGINX_SERVICES[0] ?? 'nginx',
      node: () => hostname,
      identify: async (host) => {
        const i = await docker.getContainer(host).inspect();
        return { id: i.Id, name: i.Name.replace(/^\//, '') };
      },
      onLine: handleLine,
      logger,
    })
  : undefined;
// a port this process cannot bind leaves NGINX's lines to the Docker-log path (nginx-agent falls back to stdout only
// when the name has no address, so those datagrams are lost until this task is replaced): said loudly, not fatal
await syslog?.start().catch((err: Error) => logger.error({ err: err.message, port: cfg.SYSLOG_PORT }, 'syslog receiver: cannot listen'));

const { app, metrics, finish } = createBaseApp({ service: 'log-shipper', logger });
callbackCounters(metrics.registry, [
  ['log_shipper_lines_total', 'Log lines read from Docker and from NGINX over syslog', () => lines],
  ['log_shipper_syslog_datagrams_total', 'Syslog datagrams received (NGINX access lines)', () => syslog?.stats.received ?? 0],
  ['log_shipper_unparsed_total', 'Lines that matched no format', () => unparsed],
  ['log_shipper_shipped_total', 'Documents accepted by Elasticsearch', () => shipper.stats.shipped],
  ['log_shipper_dropped_total', 'Documents dropped because the buffer was full', () => shipper.stats.dropped],
  ['log_shipper_rejected_total', 'Documents Elasticsearch rejected', () => shipper.stats.rejected],
]);
callbackGauges(metrics.registry, [
  ['log_shipper_buffered', 'Documents waiting for Elasticsearch', () => shipper.stats.buffered],
  ['log_shipper_followed_containers', 'Containers whose logs are followed', () => follower.containers.length],
]);
app.get('/metrics', metrics.handler);
finish(app);
const server = app.listen(cfg.PORT, () => logger.info({ port: cfg.PORT, es: cfg.ES_URL ? new URL(cfg.ES_URL).origin : null }, 'log-shipper started'));
installGracefulShutdown([server], {
  logger,
  onClose: [() => follower.stop(), () => syslog?.stop(), () => counterTimer && clearInterval(counterTimer), () => shipper.stop(), () => influx?.stop()],
});
