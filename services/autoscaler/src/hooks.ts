/**
 * Turns alert-tool webhook bodies into scaling intents. Pure functions: every malformed body becomes a
 * `badRequest` naming the problem, and nothing is scaled.
 *
 * Which service and direction an alert means, in order of precedence:
 *   1. query parameters of the hook URL: `?service=<name>&direction=up|down` (`scale=` is accepted as an alias,
 *      as docker-scaler's Alertmanager receivers use it)
 *   2. Kapacitor: the alert id `autoscale:<service>:<up|down>` (the TICKscript's `.id()`), the series tags
 *      `autoscale_service` / `autoscale_direction`, or an alert id listed in `autoscale.rules` of
 *      configs/alerts/sla-rules.yml (e.g. `nginx_scale_up` -> nginx up)
 *   3. Alertmanager: the alert's labels (then commonLabels) `autoscale_service`/`service` and
 *      `autoscale_direction`/`direction`/`scale`, or its `alertname` listed in `autoscale.rules`
 *   4. Kibana: the fields `service` and `direction` of the body our generated connector actions
 *      (configs/monitoring/kibana/connector-autoscaler.json) produce.
 * Recoveries (Kapacitor level OK, Alertmanager status resolved, Kibana action group "recovered") are ignored,
 * unless the recovery action is `reverse`: then the recovery of an "up" alert scales down (and vice versa).
 */
import { badRequest, shown, z } from '@forum/shared';
import type { Direction } from './policy.js';

export type RecoveryAction = 'ignore' | 'reverse';

/** What a hook needs besides the body: the default recovery action and the alert-id table of sla-rules.yml. */
export interface HookContext {
  recovery: RecoveryAction;
  /** `autoscale.rules` of configs/alerts/sla-rules.yml: alert id -> target */
  targetOf?: (alertId: string) => { service: string; direction: Direction } | undefined;
}

/** Looks an alert id up as is, then its part before the first ":" / "/" (Kapacitor ids often append the group). */
function lookup(ctx: HookContext, id: string | undefined) {
  if (!id || !ctx.targetOf) return undefined;
  return ctx.targetOf(id) ?? ctx.targetOf(id.split(/[:/\s]/)[0]);
}

export interface Intent {
  service: string;
  direction: Direction;
  reason: string;
  /** why nothing is to be done (a recovery or an INFO level), when set */
  ignore?: string;
}

export interface HookQuery {
  service?: unknown;
  direction?: unknown;
  scale?: unknown;
  recovery?: unknown;
}

export const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function parseDirection(raw: unknown, where: string): Direction {
  if (typeof raw !== 'string') throw badRequest(`${where}: direction must be "up" or "down".`, 'invalid_direction');
  const d = raw.trim().toLowerCase();
  if (d !== 'up' && d !== 'down') throw badRequest(`${where}: unknown direction ${shown(raw)}; use "up" or "down".`, 'invalid_direction');
  return d;
}

export function parseServiceName(raw: unknown, where: string): string {
  if (typeof raw !== 'string' || !SERVICE_NAME.test(raw.trim())) {
    throw badRequest(`${where}: service must be a Swarm service name (letters, digits, "_", ".", "-"), got ${shown(raw)}.`, 'invalid_service');
  }
  return raw.trim();
}

function queryStr(v: unknown): string | undefined {
  if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : undefined;
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function recoveryAction(query: HookQuery, def: RecoveryAction): RecoveryAction {
  const r = queryStr(query.recovery);
  if (r === undefined) return def;
  if (r !== 'ignore' && r !== 'reverse') throw badRequest(`query recovery=${shown(r)}: use "ignore" or "reverse".`, 'invalid_recovery');
  return r;
}

function flip(d: Direction): Direction {
  return d === 'up' ? 'down' : 'up';
}

function zodDetail(where: string, err: z.ZodError): string {
  return `${where}: ${err.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`;
}

// ------------------------------------------------------------------------------------------------ direct call
const directBody = z
  .object({
    direction: z.unknown(),
    reason: z.string().max(500).optional(),
  })
  .passthrough();

export function parseDirect(name: unknown, body: unknown): Intent {
  const service = parseServiceName(name, 'path');
  const parsed = directBody.safeParse(body);
  if (!parsed.success) throw badRequest(zodDetail('body', parsed.error), 'invalid');
  const direction = parseDirection(parsed.data.direction, 'body');
  return { service, direction, reason: parsed.data.reason?.trim() || 'manual request' };
}

// ------------------------------------------------------------------------------------------------ Kapacitor
const kapacitorBody = z
  .object({
    id: z.string().min(1),
    message: z.string().optional(),
    details: z.string().optional(),
    time: z.string().optional(),
    duration: z.number().optional(),
    level: z.enum(['OK', 'INFO', 'WARNING', 'CRITICAL']),
    previousLevel: z.string().optional(),
    recoverable: z.boolean().optional(),
    data: z
      .object({
        series: z.array(z.object({ name: z.string().optional(), tags: z.record(z.string()).optional() }).passthrough()).nullish(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();

const ID_TARGET = /^autoscale[:/]([A-Za-z0-9][A-Za-z0-9_.-]{0,62})[:/](up|down)(?:$|[:/\s])/i;

export function parseKapacitor(body: unknown, query: HookQuery, ctx: HookContext): Intent[] {
  const parsed = kapacitorBody.safeParse(body);
  if (!parsed.success) throw badRequest(zodDetail('Kapacitor alert body', parsed.error), 'invalid');
  const a = parsed.data;
  const recovery = recoveryAction(query, ctx.recovery);
  const tags = a.data?.series?.[0]?.tags ?? {};
  const idMatch = ID_TARGET.exec(a.id);
  const rule = lookup(ctx, a.id);
  const rawService = queryStr(query.service) ?? idMatch?.[1] ?? tags.autoscale_service ?? rule?.service;
  const rawDirection = queryStr(query.direction) ?? queryStr(query.scale) ?? idMatch?.[2] ?? tags.autoscale_direction ?? rule?.direction;
  if (rawService === undefined || rawDirection === undefined) {
    throw badRequest(
      `Kapacitor alert ${shown(a.id)} names no target: it is not in autoscale.rules of sla-rules.yml; post to ?service=<name>&direction=up|down or use the alert id "autoscale:<service>:<up|down>".`,
      'no_target',
    );
  }
  const service = parseServiceName(rawService, 'Kapacitor alert');
  let direction = parseDirection(rawDirection, 'Kapacitor alert');
  const reason = `Kapacitor ${a.level}: ${(a.message ?? a.id).slice(0, 300)}`;
  if (a.level === 'INFO') return [{ service, direction, reason, ignore: 'Kapacitor level INFO is not an alert' }];
  if (a.level === 'OK') {
    if (recovery === 'ignore') return [{ service, direction, reason, ignore: 'recovery (level OK) ignored' }];
    direction = flip(direction);
  }
  return [{ service, direction, reason }];
}

// ------------------------------------------------------------------------------------------------ Alertmanager
const amAlert = z
  .object({
    status: z.enum(['firing', 'resolved']).optional(),
    labels: z.record(z.string()),
    annotations: z.record(z.string()).optional(),
    startsAt: z.string().optional(),
  })
  .passthrough();
const amBody = z
  .object({
    status: z.enum(['firing', 'resolved']),
    groupLabels: z.record(z.string()).optional(),
    commonLabels: z.record(z.string()).optional(),
    commonAnnotations: z.record(z.string()).optional(),
    alerts: z.array(amAlert).min(1),
  })
  .passthrough();

export function parseAlertmanager(body: unknown, query: HookQuery, ctx: HookContext): Intent[] {
  const parsed = amBody.safeParse(body);
  if (!parsed.success) throw badRequest(zodDetail('Alertmanager webhook body', parsed.error), 'invalid');
  const b = parsed.data;
  const recovery = recoveryAction(query, ctx.recovery);
  const intents = new Map<string, Intent>();
  b.alerts.forEach((alert, i) => {
    const labels = { ...(b.commonLabels ?? {}), ...alert.labels };
    const where = `alerts[${i}]`;
    const rule = lookup(ctx, labels.alertname);
    const rawService = queryStr(query.service) ?? labels.autoscale_service ?? labels.service ?? rule?.service;
    const rawDirection =
      queryStr(query.direction) ?? queryStr(query.scale) ?? labels.autoscale_direction ?? labels.direction ?? labels.scale ?? rule?.direction;
    if (rawService === undefined || rawDirection === undefined) {
      throw badRequest(`${where} names no target: set the labels autoscale_service and autoscale_direction, or post to ?service=&direction=.`, 'no_target');
    }
    const service = parseServiceName(rawService, where);
    let direction = parseDirection(rawDirection, where);
    const status = alert.status ?? b.status;
    const summary = alert.annotations?.summary ?? alert.annotations?.description ?? b.commonAnnotations?.summary ?? labels.alertname ?? 'alert';
    const reason = `Alertmanager ${status}: ${summary.slice(0, 300)}`;
    let ignore: string | undefined;
    if (status === 'resolved') {
      if (recovery === 'ignore') ignore = 'recovery (status resolved) ignored';
      else direction = flip(direction);
    }
    const key = `${service}\u0000${direction}\u0000${ignore ? 'i' : 'a'}`;
    if (!intents.has(key)) intents.set(key, { service, direction, reason, ...(ignore ? { ignore } : {}) });
  });
  return [...intents.values()];
}

// ------------------------------------------------------------------------------------------------ Kibana
const kibanaBody = z
  .object({
    service: z.unknown().optional(),
    direction: z.unknown().optional(),
    reason: z.string().max(1000).optional(),
    state: z.string().optional(),
    rule: z.object({ id: z.string().optional(), name: z.string().optional() }).passthrough().optional(),
    alertId: z.string().optional(),
  })
  .passthrough();

export function parseKibana(body: unknown, query: HookQuery, ctx: HookContext): Intent[] {
  const parsed = kibanaBody.safeParse(body);
  if (!parsed.success) throw badRequest(zodDetail('Kibana connector body', parsed.error), 'invalid');
  const b = parsed.data;
  const recovery = recoveryAction(query, ctx.recovery);
  const rawService = queryStr(query.service) ?? b.service;
  const rawDirection = queryStr(query.direction) ?? queryStr(query.scale) ?? b.direction;
  if (rawService === undefined || rawDirection === undefined) {
    throw badRequest(
      'Kibana connector body names no target: it needs "service" and "direction" (see configs/monitoring/kibana/connector-autoscaler.json).',
      'no_target',
    );
  }
  const service = parseServiceName(rawService, 'Kibana connector body');
  let direction = parseDirection(rawDirection, 'Kibana connector body');
  const state = (b.state ?? 'active').toLowerCase();
  const reason = `Kibana ${b.rule?.name ?? 'rule'}: ${(b.reason ?? state).slice(0, 300)}`;
  if (state === 'recovered') {
    if (recovery === 'ignore') return [{ service, direction, reason, ignore: 'recovery (action group recovered) ignored' }];
    direction = flip(direction);
  }
  return [{ service, direction, reason }];
}
