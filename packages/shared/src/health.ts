import { Router } from 'express';

export type HealthCheck = () => Promise<unknown>;

/** `p`'s outcome, or an error after `ms` (`what` names the work in it); `p` itself is not cancelled. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what?: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const message = what ? `${what} did not finish within ${ms} ms` : `timed out after ${ms} ms`;
  try {
    return await Promise.race([p, new Promise<T>((_, rej) => (t = setTimeout(() => rej(new Error(message)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

/** Runs every readiness check in parallel with a timeout; returns per-check status. */
export async function runChecks(checks: Record<string, HealthCheck>, timeoutMs = 2000) {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      const started = Date.now();
      try {
        await withTimeout(check(), timeoutMs);
        return [name, { status: 'OK', ms: Date.now() - started }] as const;
      } catch (err) {
        return [name, { status: 'FAIL', ms: Date.now() - started, error: (err as Error).message }] as const;
      }
    }),
  );
  const results = Object.fromEntries(entries);
  const ok = entries.every(([, r]) => r.status === 'OK');
  return { ok, results };
}

/**
 * `GET /healthcheck/` liveness (the process can serve) and `GET /healthcheck/ready/` readiness (dependencies answer).
 * `isDraining` makes readiness fail during shutdown so that balancers stop sending new work.
 */
export function healthRouter(checks: Record<string, HealthCheck>, isDraining: () => boolean = () => false): Router {
  const router = Router();
  router.get('/healthcheck/', (_req, res) => {
    res.json({ status: 'OK' });
  });
  router.get('/healthcheck/ready/', async (_req, res) => {
    if (isDraining()) {
      res.status(503).json({ status: 'DRAINING' });
      return;
    }
    const { ok, results } = await runChecks(checks);
    res.status(ok ? 200 : 503).json({ status: ok ? 'OK' : 'FAIL', checks: results });
  });
  return router;
}
