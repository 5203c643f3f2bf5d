import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { accessLog } from './http.js';
import { createMetrics, type ServiceMetrics } from './metrics.js';
import { errorMiddleware, notFoundHandler, type Dependency } from './errors.js';
import { healthRouter, type HealthCheck } from './health.js';

export interface BaseAppOptions {
  service: string;
  logger: Logger;
  checks?: Record<string, HealthCheck>;
  isDraining?: () => boolean;
  /** express.json limit */
  bodyLimit?: string;
  /** Trusted proxy hops/ranges for req.ip (NGINX realip sets X-Real-IP / X-Forwarded-For). */
  trustProxy?: boolean | string | number | string[];
  metrics?: ServiceMetrics;
  /** Backing services whose failures the error handler answers by status (errors.ts dependencyError). */
  dependencies?: Dependency[];
}

/**
 * The skeleton every HTTP service shares: trust proxy, access log, metrics, JSON body parser, health routes.
 * Call `finish(app)` after adding routes to mount the 404 and error handlers.
 */
export function createBaseApp(opts: BaseAppOptions): { app: Express; metrics: ServiceMetrics; finish: (app: Express) => void } {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', opts.trustProxy ?? 'loopback, uniquelocal');
  const metrics = opts.metrics ?? createMetrics(opts.service);
  app.use(accessLog(opts.logger));
  app.use(metrics.middleware);
  app.use(healthRouter(opts.checks ?? {}, opts.isDraining));
  app.use(express.json({ limit: opts.bodyLimit ?? '256kb', strict: true }));
  return {
    app,
    metrics,
    finish: (a) => {
      a.use(notFoundHandler);
      a.use(errorMiddleware(opts.logger, { dependencies: opts.dependencies }));
    },
  };
}
