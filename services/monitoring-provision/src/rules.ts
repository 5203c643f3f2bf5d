import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from '@forum/shared';

const duration = z.string().regex(/^\d+(ms|s|m|h|d|w)$/, 'an InfluxQL duration like 10s, 1m, 3m');
const query = z.object({ select: z.string().min(1), where: z.string().optional() }).strict();
const value = z.union([
  query,
  z.object({ ratio: z.object({ numerator: query, denominator: query }).strict(), scale: z.number().optional() }).strict(),
]);
const rule = z
  .object({
    id: z.string().regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and _'),
    service: z.string().min(1),
    description: z.string().min(1),
    measurement: z.string().min(1),
    value,
    groupBy: z.array(z.string()).default([]),
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
    notify: z.array(z.enum(['slack', 'autoscaler'])).min(1),
    direction: z.enum(['up', 'down']).optional(),
  })
  .strict();

export const RulesSchema = z
  .object({
    version: z.literal(1),
    influx: z.object({ database: z.string(), retentionPolicy: z.string() }),
    notify: z.object({ slack: z.object({ channel: z.string() }), autoscaler: z.object({ url: z.string().url() }) }),
    defaults: z.object({ period: duration, every: duration, bucket: duration, reduce: z.enum(['mean', 'max', 'min', 'last']), hysteresis: z.number() }),
    alerts: z.array(rule).min(1),
    autoscale: z.object({
      cooldownSeconds: z.number().int().positive(),
      services: z.record(z.object({ min: z.number().int().min(1), max: z.number().int().min(1) })),
      rules: z.array(rule.extend({ direction: z.enum(['up', 'down']) })),
    }),
    bruteforce: z.object({
      failures: z.number().int().positive(),
      windowSeconds: z.number().int().positive(),
      index: z.string(),
      method: z.string(),
      urlPrefix: z.string(),
      statuses: z.array(z.number().int()),
      blockSeconds: z.number().int().positive(),
      ipblockUrl: z.string().url(),
    }),
  })
  .strict();

export type Rules = z.infer<typeof RulesSchema>;
export type RawRule = Rules['alerts'][number] & { direction?: 'up' | 'down' };

/** A rule with every default applied (what the generators use). */
export interface Rule extends RawRule {
  period: string;
  every: string;
  bucket: string;
  reduce: 'mean' | 'max' | 'min' | 'last';
  hysteresis: number;
  kind: 'alert' | 'autoscale';
}

export function loadRules(path: string): Rules {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  const r = RulesSchema.safeParse(raw);
  if (!r.success) throw new Error(`${path} is invalid:\n  - ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n  - ')}`);
  const ids = [...r.data.alerts, ...r.data.autoscale.rules].map((x) => x.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new Error(`${path} is invalid: duplicate rule id ${dup}`);
  for (const x of [...r.data.alerts, ...r.data.autoscale.rules]) {
    if (x.crit !== undefined && (x.op === '>' ? x.crit < x.warn : x.crit > x.warn)) throw new Error(`${path} is invalid: rule ${x.id}: crit must be beyond warn`);
  }
  for (const x of r.data.autoscale.rules) {
    if (!r.data.autoscale.services[x.service]) throw new Error(`${path} is invalid: autoscale rule ${x.id} names service ${x.service} without bounds in autoscale.services`);
  }
  return r.data;
}

export function allRules(r: Rules): Rule[] {
  const d = r.defaults;
  const fill = (x: RawRule, kind: Rule['kind']): Rule => ({
    ...x,
    period: x.period ?? d.period,
    every: x.every ?? d.every,
    bucket: x.bucket ?? d.bucket,
    reduce: x.reduce ?? d.reduce,
    hysteresis: x.hysteresis ?? d.hysteresis,
    kind,
  });
  return [...r.alerts.map((x) => fill(x, 'alert')), ...r.autoscale.rules.map((x) => fill(x, 'autoscale'))];
}
