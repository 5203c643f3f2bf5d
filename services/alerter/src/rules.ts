/**
 * configs/alerts/sla-rules.yml (schema version 1, documented at the top of that file): parsed, validated and
 * rendered to InfluxQL exactly as the schema says, so the alerter and the Kapacitor tasks agree.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from '@forum/shared';

const duration = z.string().regex(/^\d+(ms|s|m|h|d|w)$/, 'an InfluxQL duration like 10s, 1m, 3m');
const selectExpr = z.object({ select: z.string().min(1), where: z.string().optional() });
const value = z.union([
  selectExpr.strict(),
  z.object({ ratio: z.object({ numerator: selectExpr, denominator: selectExpr }), scale: z.number().optional() }).strict(),
]);
const IDENT = /^[A-Za-z0-9_.-]+$/;

const ruleSchema = z.object({
  id: z.string().regex(/^[a-z0-9_]+$/, 'id must be [a-z0-9_]'),
  service: z.string(),
  description: z.string().default(''),
  measurement: z.string().regex(IDENT, 'measurement must be a plain name'),
  value,
  groupBy: z.array(z.string().regex(IDENT, 'groupBy tags must be plain names')).default([]),
  period: duration.optional(),
  every: duration.optional(),
  bucket: duration.optional(),
  reduce: z.enum(['mean', 'max', 'min', 'last']).optional(),
  op: z.enum(['>', '<']),
  warn: z.number(),
  crit: z.number().optional(),
  objective: z.number().optional(),
  unit: z.string().default(''),
  hysteresis: z.number().min(0).max(1).optional(),
  notify: z.array(z.enum(['slack', 'autoscaler'])).default(['slack']),
});
const scaleRuleSchema = ruleSchema.extend({ direction: z.enum(['up', 'down']) });

const fileSchema = z.object({
  version: z.literal(1),
  influx: z.object({ database: z.string().default('telegraf'), retentionPolicy: z.string().default('autogen') }).default({}),
  notify: z
    .object({
      slack: z.object({ channel: z.string().optional() }).optional(),
      autoscaler: z.object({ url: z.string().url().optional() }).optional(),
    })
    .default({}),
  defaults: z
    .object({
      period: duration.default('1m'),
      every: duration.default('10s'),
      bucket: duration.default('10s'),
      reduce: z.enum(['mean', 'max', 'min', 'last']).default('mean'),
      hysteresis: z.number().min(0).max(1).default(0.1),
    })
    .default({}),
  alerts: z.array(ruleSchema).default([]),
  autoscale: z
    .object({
      cooldownSeconds: z.number().int().min(0).default(300),
      rules: z.array(scaleRuleSchema).default([]),
    })
    .passthrough()
    .default({}),
}).passthrough();

export type RulesFile = z.infer<typeof fileSchema>;
type RawRule = z.infer<typeof ruleSchema> & { direction?: 'up' | 'down' };

/** A rule with every default applied. */
export interface Rule extends Omit<RawRule, 'period' | 'every' | 'bucket' | 'reduce' | 'hysteresis'> {
  period: string;
  every: string;
  bucket: string;
  reduce: 'mean' | 'max' | 'min' | 'last';
  hysteresis: number;
  /** a scale rule (autoscale.rules): posts to the autoscaler */
  scale?: { service: string; direction: 'up' | 'down' };
}

export interface LoadedRules {
  database: string;
  retentionPolicy: string;
  slackChannel?: string;
  autoscalerUrl?: string;
  cooldownSeconds: number;
  rules: Rule[];
}

/** Per-rule overrides (ops and tests lower a threshold without editing the shared file): {"<id>": {"warn": 5, ...}}. */
export const overridesSchema = z.record(
  z
    .object({
      warn: z.number().optional(),
      crit: z.number().optional(),
      period: duration.optional(),
      every: duration.optional(),
      bucket: duration.optional(),
      hysteresis: z.number().min(0).max(1).optional(),
      reduce: z.enum(['mean', 'max', 'min', 'last']).optional(),
    })
    .strict(),
);
export type Overrides = z.infer<typeof overridesSchema>;

export function parseRules(text: string, source = 'sla-rules.yml', overrides: Overrides = {}): LoadedRules {
  const parsed = fileSchema.safeParse(parse(text));
  if (!parsed.success) {
    throw new Error(`${source}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const f = parsed.data;
  const d = f.defaults;
  const withDefaults = (r: RawRule, scale: boolean): Rule => {
    const o = overrides[r.id] ?? {};
    return {
      ...r,
      period: o.period ?? r.period ?? d.period,
      every: o.every ?? r.every ?? d.every,
      bucket: o.bucket ?? r.bucket ?? d.bucket,
      reduce: o.reduce ?? r.reduce ?? d.reduce,
      hysteresis: o.hysteresis ?? r.hysteresis ?? d.hysteresis,
      warn: o.warn ?? r.warn,
      crit: o.crit ?? r.crit,
      ...(scale && r.direction ? { scale: { service: r.service, direction: r.direction } } : {}),
    };
  };
  const rules = [...f.alerts.map((r) => withDefaults(r, false)), ...f.autoscale.rules.map((r) => withDefaults(r, true))];
  const ids = new Set<string>();
  for (const r of rules) {
    if (ids.has(r.id)) throw new Error(`${source}: duplicate rule id ${r.id}`);
    ids.add(r.id);
  }
  for (const id of Object.keys(overrides)) if (!ids.has(id)) throw new Error(`override for unknown rule ${id}`);
  return {
    database: f.influx.database,
    retentionPolicy: f.influx.retentionPolicy,
    slackChannel: f.notify.slack?.channel,
    autoscalerUrl: f.notify.autoscaler?.url,
    cooldownSeconds: f.autoscale.cooldownSeconds,
    rules,
  };
}

export function loadRules(file: string, overrides: Overrides = {}): LoadedRules {
  return parseRules(readFileSync(file, 'utf8'), file, overrides);
}

const quoteIdent = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** The schema's rendering: SELECT <select> AS "value" FROM db.rp.m WHERE time > now() - <period> [AND (<where>)] GROUP BY time(<bucket>)[, tags]. */
export function renderQuery(rule: Rule, expr: { select: string; where?: string }, db: string, rp: string): string {
  const where = expr.where ? ` AND (${expr.where})` : '';
  const groups = [`time(${rule.bucket})`, ...rule.groupBy.map(quoteIdent)].join(', ');
  return `SELECT ${expr.select} AS "value" FROM ${quoteIdent(db)}.${quoteIdent(rp)}.${quoteIdent(rule.measurement)} WHERE time > now() - ${rule.period}${where} GROUP BY ${groups}`;
}

export function durationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(d);
  if (!m) throw new Error(`bad duration ${d}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'ms'];
  return Number(m[1]) * unit;
}
