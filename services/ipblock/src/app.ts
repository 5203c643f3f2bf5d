import { Router } from 'express';
import { AppError, asyncHandler, createBaseApp, requireBearer, z, type HealthCheck, type Logger } from '@forum/shared';
import type { BlockService } from './blocks.js';
import type { BlockStore } from './store.js';
import { kibanaBody, offendersFromKibana, offendersFromWatcher, watcherBody, type Offender } from './hooks.js';
import { PolicyError } from './ip-policy.js';

export interface AppDeps {
  logger: Logger;
  token: string;
  service: BlockService;
  store: BlockStore;
  checks: Record<string, HealthCheck>;
  isDraining?: () => boolean;
  bruteforceThreshold: number;
  bruteforceTtlSeconds: number;
  maxWaitSeconds: number;
}

const blockBody = z
  .object({
    ip: z.string({ required_error: 'ip is required', invalid_type_error: 'ip must be a string' }),
    ttlSeconds: z.number({ invalid_type_error: 'ttlSeconds must be an integer number of seconds' }).optional(),
    reason: z.string({ required_error: 'reason is required' }).trim().min(1, 'reason must not be empty').max(500),
  })
  .strict();

function parse<T extends z.ZodTypeAny>(schema: T, body: unknown): z.infer<T> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new AppError('invalid_body', 400, 'The body must be a JSON object (Content-Type: application/json).');
  }
  const r = schema.safeParse(body);
  if (!r.success) {
    const detail = r.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
    throw new AppError('invalid_body', 400, detail);
  }
  return r.data;
}

function intQuery(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new AppError('invalid_query', 400, `${name} must be an integer from ${min} to ${max}.`);
  }
  return Number(value);
}

export function createApp(deps: AppDeps) {
  const { app, metrics, finish } = createBaseApp({ service: 'ipblock', logger: deps.logger, checks: deps.checks, isDraining: deps.isDraining });
  app.get('/metrics', metrics.handler);

  const v1 = Router();
  v1.use(requireBearer(deps.token));
  // while draining, a response closes its connection, so server.close() is not held up by keep-alive sockets
  v1.use((_req, res, next) => {
    const writeHead = res.writeHead;
    res.writeHead = function (this: typeof res, ...args: Parameters<typeof writeHead>) {
      if (deps.isDraining?.()) this.setHeader('Connection', 'close');
      return writeHead.apply(this, args);
    } as typeof writeHead;
    next();
  });

  /** The list; with `since` (a version) and `wait` (s) it long-polls until the version differs from `since`. */
  v1.get(
    '/blocks',
    asyncHandler(async (req, res) => {
      const since = intQuery(req.query.since, 'since', 0, Number.MAX_SAFE_INTEGER);
      const wait = intQuery(req.query.wait, 'wait', 0, deps.maxWaitSeconds) ?? 0;
      if (since !== undefined && wait > 0) {
        const ac = new AbortController();
        const onClose = () => ac.abort();
        res.on('close', onClose);
        await deps.store.waitForChange(since, wait * 1000, ac.signal);
        res.off('close', onClose);
        if (ac.signal.aborted) return;
      }
      const list = await deps.store.list();
      res.setHeader('Cache-Control', 'no-store');
      res.json({ version: list.version, count: list.blocks.length, blocks: list.blocks });
    }),
  );

  v1.post(
    '/blocks',
    asyncHandler(async (req, res) => {
      const body = parse(blockBody, req.body);
      const ip = deps.service.validate(body.ip);
      const ttl = deps.service.validateTtl(body.ttlSeconds);
      const result = await deps.service.block(ip, ttl, body.reason, 'api');
      res.status(result.updated ? 200 : 201).json({ ...result.block, version: result.version, updated: result.updated });
    }),
  );

  v1.delete(
    '/blocks/:ip(*)',
    asyncHandler(async (req, res) => {
      let ip: string;
      try {
        ip = deps.service.validate(req.params.ip);
      } catch (err) {
        // an address the policy refuses can never be blocked, so it is simply not there
        if (err instanceof AppError && err.code !== 'invalid_ip') throw new AppError('not_found', 404, `${req.params.ip} is not blocked.`);
        throw err;
      }
      const result = await deps.service.unblock(ip, 'api');
      if (!result) throw new AppError('not_found', 404, `${ip} is not blocked.`);
      res.json({ ip, version: result.version, unblocked: true });
    }),
  );

  /** Blocks every offender; policy-refused addresses are reported, malformed input changes nothing. */
  async function blockOffenders(offenders: Offender[], origin: string, windowSeconds: number | undefined, ttlSeconds: number | undefined) {
    // a bad TTL rejects the whole body before anything is blocked
    const ttl = ttlSeconds === undefined ? deps.bruteforceTtlSeconds : deps.service.validateTtl(ttlSeconds);
    const planned: Array<{ ip: string; failures: number | undefined }> = [];
    const skipped: Array<{ ip: string; code: string; detail: string }> = [];
    for (const o of offenders) {
      try {
        planned.push({ ip: deps.service.validate(o.ip), failures: o.failures });
      } catch (err) {
        if (err instanceof AppError && err.code === 'invalid_ip') throw err;
        if (err instanceof AppError || err instanceof PolicyError) skipped.push({ ip: o.ip, code: (err as AppError).code, detail: err.message });
        else throw err;
      }
    }
    if (planned.length === 0 && skipped.length > 0) {
      throw new AppError('protected_range', 422, `nothing blocked: ${skipped.map((s) => s.detail).join('; ')}`, true, { skipped });
    }
    const blocked = [];
    for (const p of planned) {
      const reason = `login_bruteforce: ${p.failures ?? '?'} failed logins in ${windowSeconds ?? 30} s (${origin})`;
      const r = await deps.service.block(p.ip, ttl, reason, origin);
      blocked.push({ ip: p.ip, expiresAt: r.block.expiresAt, version: r.version });
    }
    return { blocked, skipped };
  }

  v1.post(
    '/hooks/watcher',
    asyncHandler(async (req, res) => {
      const body = parse(watcherBody, req.body);
      const offenders = offendersFromWatcher(body, deps.bruteforceThreshold);
      res.json(await blockOffenders(offenders, `watcher${body.watchId ? ` ${body.watchId}` : ''}`, body.windowSeconds, body.ttlSeconds));
    }),
  );

  v1.post(
    '/hooks/kibana',
    asyncHandler(async (req, res) => {
      const body = parse(kibanaBody, req.body);
      const offenders = offendersFromKibana(body, deps.bruteforceThreshold);
      if (offenders.length === 0) {
        throw new AppError('below_threshold', 422, `count ${body.count} is below the brute-force threshold of ${deps.bruteforceThreshold}; nothing blocked.`);
      }
      res.json(await blockOffenders(offenders, `kibana${body.ruleName ? ` ${body.ruleName}` : ''}`, body.windowSeconds, body.ttlSeconds));
    }),
  );

  app.use('/v1', v1);
  finish(app);
  return app;
}
