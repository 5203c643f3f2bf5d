import { createServer } from 'node:http';
import express from 'express';
import { answerClientErrors, createLogger, installGracefulShutdown } from '@forum/shared';
import { buildRuntime } from './app.js';
import { bootstrapWithin } from './bootstrap.js';
import { loadServiceConfig } from './config.js';

const cfg = loadServiceConfig();
const logger = createLogger('forum-api');
let draining = () => false;
const rt = buildRuntime(cfg, logger, { isDraining: () => draining() });

try {
  await bootstrapWithin(cfg, rt.db, logger, cfg.STARTUP_DEADLINE_MS);
} catch (err) {
  logger.fatal({ err }, 'start-up failed');
  process.exit(1);
}

const server = createServer(rt.handler);
server.keepAliveTimeout = 65_000; // longer than NGINX's upstream keepalive_timeout
server.headersTimeout = 66_000;
// malformed requests get their 400 without a connection reset (NGINX would turn a reset into 502)
answerClientErrors(server);
const metricsApp = express();
metricsApp.get('/metrics', rt.metrics.handler);
const metricsServer = createServer(metricsApp);

const shutdown = installGracefulShutdown([server, metricsServer], {
  logger,
  timeoutMs: 20_000 /* < stop_grace_period 25 s (docker-stack.yml) */,
  deregisterMs: cfg.SHUTDOWN_DEREGISTER_MS,
  onClose: [() => rt.close()],
});
draining = shutdown.isDraining;

const portOf = (s: typeof server) => (s.address() as { port: number }).port;
server.listen(cfg.PORT, () => logger.info({ port: portOf(server) }, 'forum api listening'));
metricsServer.listen(cfg.METRICS_PORT, () => logger.info({ port: portOf(metricsServer) }, 'metrics listening'));
