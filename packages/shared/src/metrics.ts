import client from 'prom-client';
import type { RequestHandler, Request } from 'express';

export interface ServiceMetrics {
  registry: client.Registry;
  httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  inFlight: client.Gauge<string>;
  /** Express middleware that times every request by route template and status. */
  middleware: RequestHandler;
  /** GET /metrics handler (Prometheus text format). */
  handler: RequestHandler;
}

/** The route template ("/api/threads/:id/"), never the raw URL, so label cardinality stays bounded. */
export function routeLabel(req: Request): string {
  const route = (req as { route?: { path?: string } }).route?.path;
  if (typeof route === 'string') return `${req.baseUrl}${route}`;
  return 'unmatched';
}

export function createMetrics(service: string, registry = new client.Registry()): ServiceMetrics {
  registry.setDefaultLabels({ service });
  // The event-loop-lag histogram samples on a libuv timer; prom-client's default 10 ms woke every Node process 100
  // times a second even when idle (a dozen processes in the stack). 100 ms still records every stall longer than
  // that; the price is a coarser p50/p90 of short lags, which no alert or dashboard reads.
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  // prom-client types these sums as gauges named *_total, which Prometheus tooling reads as counters (promtool
  // rejects them); the same numbers stay available per type in nodejs_active_handles / _requests / _resources.
  for (const m of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(m);
  const httpDuration = new client.Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const inFlight = new client.Gauge({ name: 'http_requests_in_flight', help: 'Requests being served', registers: [registry] });
  const middleware: RequestHandler = (req, res, next) => {
    const end = httpDuration.startTimer();
    inFlight.inc();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight.dec();
      end({ method: req.method, route: routeLabel(req), status: String(res.statusCode) });
    };
    res.on('finish', finish);
    res.on('close', finish);
    next();
  };
  const handler: RequestHandler = async (_req, res, next) => {
    try {
      res.setHeader('Content-Type', registry.contentType);
      res.end(await registry.metrics());
    } catch (err) {
      next(err);
    }
  };
  return { registry, httpDuration, inFlight, middleware, handler };
}
/** Gauges read from callbacks at scrape time (buffer sizes, counters kept by a worker): [name, help, read][]. */
export function callbackGauges(registry: client.Registry, defs: ReadonlyArray<readonly [name: string, help: string, read: () => number]>): void {
  for (const [name, help, read] of defs) {
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  }
}
export { client as promClient };
/**
 * Counters read from callbacks at scrape time (monotonic totals kept by a worker, e.g. dropped points): typed
 * `counter` (promtool and Prometheus' rate() expect a `*_total` to be one), not gauges. [name, help, read][].
 */
export function callbackCounters(registry: client.Registry, defs: ReadonlyArray<readonly [name: string, help: string, read: () => number]>): void {
  for (const [name, help, read] of defs) {
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(Math.max(0, read()));
      },
    });
  }
}
