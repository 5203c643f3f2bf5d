import type { Express, Request, Response } from 'express';
import type Docker from 'dockerode';
import { AppError, asyncHandler, createBaseApp, createMetrics, notFound, requireBearer, shown, type Logger } from '@forum/shared';
import {
  parseAlertmanager,
  parseDirect,
  parseKapacitor,
  parseKibana,
  parseServiceName,
  type HookContext,
  type HookQuery,
  type Intent,
  type RecoveryAction,
} from './hooks.js';
import { Scaler, type Decision } from './scaler.js';

export interface AutoscalerAppOptions {
  docker: Docker;
  logger: Logger;
  token: string;
  labelPrefix: string;
  stackName?: string;
  recovery: RecoveryAction;
  targetOf?: HookContext['targetOf'];
  notify: (d: Decision) => void;
  isDraining?: () => boolean;
}

/** The public shape of a decision (what the API answers and the tests assert). */
function publicDecision(d: Decision) {
  const { status: _status, ...rest } = d;
  return rest;
}

export function buildApp(o: AutoscalerAppOptions): { app: Express; scaler: Scaler } {
  const metrics = createMetrics('autoscaler');
  const { app, finish } = createBaseApp({
    service: 'autoscaler',
    logger: o.logger,
    metrics,
    isDraining: o.isDraining,
    bodyLimit: '1mb', // Kapacitor bodies carry the alert's data series
    checks: { docker: () => o.docker.ping() },
  });
  const scaler = new Scaler({
    docker: o.docker,
    logger: o.logger,
    labelPrefix: o.labelPrefix,
    stackName: o.stackName,
    registry: metrics.registry,
    notify: o.notify,
  });

  app.get('/metrics', metrics.handler);
  app.use('/v1', requireBearer(o.token));

  /** Parses with `parse`; a bad body is counted as an invalid decision before the 4xx. */
  const parseOrCount = <T>(source: string, parse: () => T): T => {
    try {
      return parse();
    } catch (err) {
      if (err instanceof AppError) scaler.countInvalid(source, err.code, err.detail);
      throw err;
    }
  };

  const answerOne = (res: Response, d: Decision) => {
    if (d.outcome === 'scaled' || d.outcome === 'ignored') {
      res.status(200).json(publicDecision(d));
      return;
    }
    if (d.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(d.retryAfterSeconds));
    res.status(d.status).json(publicDecision(d)); // carries detail + code like every error answer
  };

  app.post(
    '/v1/services/:name/scale',
    asyncHandler(async (req: Request, res) => {
      const intent = parseOrCount('api', () => parseDirect(req.params.name, req.body));
      answerOne(res, await scaler.decide(intent, 'api'));
    }),
  );

  /**
   * Hooks answer 200 with every decision once the body was understood (a refusal is a decision, and alert tools
   * cannot act on it); a body that names nothing scalable (unknown / not opted in / invalid policy) is a 4xx.
   */
  const ctx: HookContext = { recovery: o.recovery, targetOf: o.targetOf };
  const hook = (source: string, parse: (body: unknown, q: HookQuery, c: HookContext) => Intent[]) =>
    asyncHandler(async (req: Request, res) => {
      const intents = parseOrCount(source, () => parse(req.body, req.query as HookQuery, ctx));
      const decisions: Decision[] = [];
      for (const intent of intents) decisions.push(await scaler.decide(intent, source));
      const allRejected = decisions.every((d) => d.outcome === 'rejected' || d.outcome === 'failed');
      if (allRejected) {
        const first = decisions[0];
        res.status(first.status).json({ detail: first.detail, code: first.code, decisions: decisions.map(publicDecision) });
        return;
      }
      res.status(200).json({ decisions: decisions.map(publicDecision) });
    });
  app.post('/v1/hooks/kapacitor', hook('kapacitor', parseKapacitor));
  app.post('/v1/hooks/alertmanager', hook('alertmanager', parseAlertmanager));
  app.post('/v1/hooks/kibana', hook('kibana', parseKibana));

  app.get(
    '/v1/services',
    asyncHandler(async (_req, res) => {
      res.json({ services: await scaler.list() });
    }),
  );
  app.get(
    '/v1/services/:name',
    asyncHandler(async (req: Request, res) => {
      const name = parseServiceName(req.params.name, 'path');
      const view = await scaler.get(name);
      if (!view) throw notFound(`no Swarm service named ${shown(name)}.`, 'unknown_service');
      res.json(view);
    }),
  );

  finish(app);
  return { app, scaler };
}
