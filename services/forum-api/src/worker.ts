import { createServer } from 'node:http';
import express from 'express';
import { createLogger, createMetrics, healthRouter, installGracefulShutdown, promClient } from '@forum/shared';
import { registerRuntimeMetrics } from './app.js';
import { bootstrapWithin } from './bootstrap.js';
import { loadServiceConfig } from './config.js';
import { createDb } from './db.js';
import { JobWorker } from './jobs.js';
import { createRedis } from './redis.js';

const cfg = loadServiceConfig('worker');
const logger = createLogger('forum-worker');
const db = createDb({ ...cfg, PG_APP_NAME_PRIMARY: `${cfg.PG_APP_NAME_PRIMARY}-worker` });
// the worker blocks on XREADGROUP: it needs its own connection, with unlimited retries
const redis = createRedis(cfg.REDIS_URL, cfg.REDIS_PASSWORD, logger, { blocking: true, username: cfg.REDIS_USER });
const metrics = createMetrics('forum-worker');
registerRuntimeMetrics(metrics, db, redis);
const jobsTotal = new promClient.Counter({
  name: 'forum_jobs_processed_total',
  help: 'Jobs handled by outcome',
  labelNames: ['type', 'outcome'] as const,
  registers: [metrics.registry],
});
const jobSeconds = new promClient.Histogram({
  name: 'forum_job_duration_seconds',
  help: 'Job handling time',
  labelNames: ['type'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
  registers: [metrics.registry],
});

try {
  // the api normally migrates; a worker started first must not race it (the advisory lock makes this safe)
  await bootstrapWithin({ ...cfg, ADMIN_PASSWORD: undefined }, db, logger, cfg.STARTUP_DEADLINE_MS);
} catch (err) {
  logger.fatal({ err }, 'start-up failed');
  process.exit(1);
}

const worker = new JobWorker(redis, db, logger, {
  claimIdleMs: cfg.JOB_CLAIM_IDLE_MS,
  maxAttempts: cfg.JOB_MAX_ATTEMPTS,
  sweepAgeMs: cfg.JOB_SWEEP_AGE_MS,
  fault: cfg.WORKER_FAULT,
  onJob: (type, outcome, seconds) => {
    jobsTotal.inc({ type, outcome });
    jobSeconds.observe({ type }, seconds);
  },
});
// not awaited: on the blocking connection (unlimited retries) it waits as long as Redis does, and the health server
// below must not wait with it. The loop's first read queues behind it on the same connection; a NOGROUP re-creates it.
worker.ensureGroup().catch((err) => logger.warn({ err: (err as Error).message }, 'cannot create the consumer group yet'));
worker.start();
logger.info({ consumer: worker.consumer }, 'worker started');

let draining = () => false;
const app = express();
app.use(healthRouter({ postgres: () => db.rw.query('SELECT 1'), redis: () => redis.ping() }, () => draining()));
app.get('/metrics', metrics.handler);
const server = createServer(app);
const shutdown = installGracefulShutdown([server], {
  logger,
  timeoutMs: 8000,
  onClose: [() => worker.stop(), () => db.close(), () => redis.disconnect()],
});
draining = shutdown.isDraining;
server.listen(cfg.METRICS_PORT, () => logger.info({ port: (server.address() as { port: number }).port }, 'worker metrics/health listening'));
