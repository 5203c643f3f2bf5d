import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express, RequestHandler } from 'express';
import { AppError, createBaseApp, createMetrics, promClient, type Logger, type ServiceMetrics } from '@forum/shared';
import type { Config } from './config.js';
import type { Ctx } from './context.js';
import { createDb, type Db } from './db.js';
import { enqueue, queueStats } from './jobs.js';
import { createRedis, within, type Redis } from './redis.js';
import { consistencyMiddleware } from './consistency.js';
import { authRouter } from './routes/auth.js';
import { categoriesRouter } from './routes/categories.js';
import { postsRouter } from './routes/posts.js';
import { threadsRouter } from './routes/threads.js';
import { usersRouter } from './routes/users.js';
import { Sessions } from './session.js';
import { CacheBus, PageCache } from './cache.js';
import { guestFastPath, healthFastPath } from './fastpath.js';
import { CategoryStore } from './categories.js';
import { redisFloodSlots } from './flood.js';
import { DEFAULT_LOGIN_LIMITS, LoginGuard } from './login-guard.js';
import { boundPasswordWork } from './passwords.js';

export function parseTrustProxy(v: string): boolean | number | string {
  const s = v.trim();
  if (s === 'true' || s === 'false') return s === 'true';
  if (/^\d+$/.test(s)) return Number(s);
  return s;
}

/** DRF answers 415 when an unsafe request carries a body that is not JSON. */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && !req.is('application/json')) {
    const type = String(req.headers['content-type'] ?? '').slice(0, 60);
    return next(new AppError('unsupported_media_type', 415, `Unsupported media type "${type}" in request.`));
  }
  next();
};

/** Pool and queue gauges, read at scrape time. */
export function registerRuntimeMetrics(metrics: ServiceMetrics, db: Db, redis: Redis, cache?: PageCache): void {
  const registers = [metrics.registry];
  if (cache)
    new promClient.Counter({
      name: 'forum_page_cache_lookups_total',
      help: "Guests' page cache lookups (while enabled): hit = served from memory, miss = built from the database",
      labelNames: ['result'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ result: 'hit' }, cache.lookups.hit);
        this.inc({ result: 'miss' }, cache.lookups.miss);
      },
    });
  new promClient.Gauge({
    name: 'pg_pool_connections',
    help: 'node-postgres pool connections by pool (rw = primary, ro = balanced) and state',
    labelNames: ['pool', 'state'] as const,
    registers,
    collect() {
      for (const [name, pool] of [
        ['rw', db.rw],
        ['ro', db.ro],
      ] as const) {
        this.set({ pool: name, state: 'total' }, pool.totalCount);
        this.set({ pool: name, state: 'idle' }, pool.idleCount);
        this.set({ pool: name, state: 'waiting' }, pool.waitingCount);
      }
    },
  });
  new promClient.Gauge({
    name: 'forum_jobs',
    help: 'Job stream: entries in the stream, pending (delivered, not acknowledged), dead-lettered',
    labelNames: ['state'] as const,
    registers,
    async collect() {
      try {
        const s = await queueStats(redis);
        this.set({ state: 'stream' }, s.length);
        this.set({ state: 'pending' }, s.pending);
        this.set({ state: 'dead' }, s.dead);
      } catch {
        // Redis down: leave the last values; readiness reports the outage
      }
    },
  });
}

export interface Runtime {
  db: Db;
  redis: Redis;
  ctx: Ctx;
  app: Express;
  /** The HTTP request handler: the guests' cached-page fast path, else the Express app. */
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  metrics: ServiceMetrics;
  close(): Promise<void>;
}

export function buildRuntime(cfg: Config, logger: Logger, opts: { isDraining?: () => boolean; db?: Db; redis?: Redis } = {}): Runtime {
  boundPasswordWork(cfg.ARGON2_CONCURRENCY, cfg.ARGON2_QUEUE);
  const db = opts.db ?? createDb(cfg);
  const redis = opts.redis ?? createRedis(cfg.REDIS_URL, cfg.REDIS_PASSWORD, logger, { username: cfg.REDIS_USER });
  const sessions = new Sessions(redis, db, logger, {
    secret: cfg.SESSION_SECRET,
    secureCookies: cfg.SECURE_COOKIES,
    cacheMs: cfg.SESSION_CACHE_MS,
    redisTimeoutMs: cfg.SESSION_REDIS_TIMEOUT_MS,
    revocationPollMs: cfg.SESSION_REVOCATION_POLL_MS,
  });
  const cache = new PageCache(cfg.ANON_CACHE_MS);
  const bus = new CacheBus(redis, cache, logger, cfg.ANON_CACHE_MS > 0);
  const ctx: Ctx = {
    db,
    redis,
    sessions,
    logger,
    cache,
    flood: redisFloodSlots(redis, cfg.FLOOD_INTERVAL_MS, logger),
    logins: new LoginGuard(redis, logger, {
      ...DEFAULT_LOGIN_LIMITS,
      accountAttempts: cfg.LOGIN_ACCOUNT_MAX_ATTEMPTS,
      accountWindowSeconds: cfg.LOGIN_ACCOUNT_WINDOW_SECONDS,
    }),
    categories: new CategoryStore(db),
    bus,
    async enqueue(job) {
      try {
        // bounded: while Redis fails over the post is already committed; the worker's sweep enqueues it later
        await within(enqueue(redis, job), 1000);
      } catch (err) {
        logger.warn({ err: (err as Error).message, job }, 'enqueue failed; the worker sweep will pick the post up');
      }
    },
  };
  const metrics = createMetrics('forum-api');
  registerRuntimeMetrics(metrics, db, redis, cache);
  const { app, finish } = createBaseApp({
    service: 'forum-api',
    logger,
    metrics,
    trustProxy: parseTrustProxy(cfg.TRUST_PROXY),
    bodyLimit: '512kb',
    isDraining: opts.isDraining,
    dependencies: ['postgres', 'redis'],
    checks: {
      postgres: () => db.rw.query('SELECT 1'),
      redis: () => redis.ping(),
    },
  });
  // Misago sends no ETags; hashing every JSON body costs CPU on the hottest path
  app.set('etag', false);
  app.use(requireJsonBody);
  app.use(consistencyMiddleware(cfg.SECURE_COOKIES));
  app.use(sessions.middleware());
  app.use(authRouter(ctx));
  app.use(usersRouter(ctx));
  app.use(categoriesRouter(ctx));
  app.use(threadsRouter(ctx));
  app.use(postsRouter(ctx));
  finish(app);
  const fast = guestFastPath(app, cache, metrics, logger);
  const health = healthFastPath(app, metrics, logger);
  return {
    db,
    redis,
    ctx,
    app,
    handler: (req, res) => {
      if (!health(req, res) && !fast(req, res)) app(req, res);
    },
    metrics,
    async close() {
      sessions.close();
      bus.close();
      await db.close();
      redis.disconnect();
    },
  };
}
