/**
 * configs/alerts/sla-rules.yml (schema version 1, documented at the top of that file): the ONE schema and parser,
 * used by the alerter (evaluates the rules itself), monitoring-provision (generates Kapacitor/ES/Chronograf), the
 * autoscaler (alert id -> scale target) and ipblock (the brute-force rule).
 *
 * - `parseSlaRules` / `loadSlaRules`: YAML -> validated file. Sections without a natural default may be left out
 *   (a test or a dev file can hold one rule); `defaults`, `influx` and `autoscale.cooldownSeconds` take the
 *   documented defaults. Rule ids are unique and a rule's `crit` lies beyond its `warn`.
 * - `slaRuleList`: every rule (alerts, then autoscale.rules) with the defaults and optional per-rule overrides applied.
 * - `requireCompleteSlaRules`: what provisioning the monitoring VM needs on top (Slack channel, autoscaler URL,
 *   bruteforce, bounds for every autoscaled service, ...).
 *
 * Import from `@forum/shared/sla-rules` (kept off the main entry: only the services that read the file load `yaml`).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

const duration = z.string().regex(/^\d+(ms|s|m|h|d|w)$/, 'an InfluxQL duration like 10s, 1m, 3m');
const reduce = z.enum(['mean', 'max', 'min', 'last']);
const IDENT = /^[A-Za-z0-9_.-]+$/;
/** {select, where?}: an InfluxQL aggregate per bucket and an optional tag condition */
const query = z.object({ select: z.string().min(1), where: z.string().optional() }).strict();
const value = z.union([query, z.object({ ratio: z.object({ numerator: query, denominator: query }).strict(), scale: z.number().optional() }).strict()]);

const ruleShape = {
  id: z.string().regex(/^[a-z0-9_]+$/, 'id must be [a-z0-9_]'),
  service: z.string().min(1),
  description: z.string().default(''),
  measurement: z.string().regex(IDENT, 'measurement must be a plain name'),
  value,
  groupBy: z.array(z.string().regex(IDENT, 'groupBy tags must be plain names')).default([]),
  period: duration.optional(),
  every: duration.optional(),
  bucket: duration.optional(),
  reduce: reduce.optional(),
  op: z.enum(['>', '<']),
  warn: z.number(),
  crit: z.number().optional(),
  objective: z.number().optional(),
  unit: z.string().default(''),
  hysteresis: z.number().min(0).max(1).optional(),
  notify: z
    .array(z.enum(['slack', 'autoscaler']))
    .min(1)
    .default(['slack']),
};
const alertRule = z.object(ruleShape).strict();
const scaleRule = z.object({ ...ruleShape, direction: z.enum(['up', 'down']) }).strict();

/**
 * The brute-force rule, the ONE copy: the API's own detection, ipblock's threshold and block TTL, and the VM's
 * Watcher, Kibana rule and searches are generated from (or read) these numbers.
 */
const bruteforce = z
  .object({
    failures: z.number().int().positive(),
    windowSeconds: z.number().int().positive(),
    index: z.string(),
    method: z.string(),
    /** the login route, matched exactly on url.path (ECS) */
    path: z.string().regex(/^\/\S*$/, 'an absolute URL path'),
    /** answers that count as a failure (the API answers 400 to bad credentials, 429 from the threshold on) */
    statuses: z.array(z.number().int()).min(1),
    /** how long a brute-force block lasts, whichever path detected it */
    blockSeconds: z.number().int().positive(),
  })
  .strict();

/**
 * The autoscaler's cooldown when a service's `autoscale.cooldown` label is left out, and this file's
 * `autoscale.cooldownSeconds` when it is: one number (a test holds the stack labels and sla-rules.yml to it).
 */
export const DEFAULT_AUTOSCALE_COOLDOWN_SECONDS = 300;

export const slaRulesSchema = z
  .object({
    version: z.literal(1),
    influx: z
      .object({ database: z.string().default('telegraf'), retentionPolicy: z.string().default('autogen') })
      .strict()
      .default({}),
    notify: z
      .object({
        slack: z.object({ channel: z.string() }).strict().optional(),
        autoscaler: z.object({ url: z.string().url() }).strict().optional(),
      })
      .strict()
      .default({}),
    defaults: z
      .object({
        period: duration.default('1m'),
        every: duration.default('10s'),
        bucket: duration.default('10s'),
        reduce: reduce.default('mean'),
        hysteresis: z.number().min(0).max(1).default(0.1),
      })
      .strict()
      .default({}),
    alerts: z.array(alertRule).default([]),
    autoscale: z
      .object({
        cooldownSeconds: z.number().int().min(0).default(DEFAULT_AUTOSCALE_COOLDOWN_SECONDS),
        services: z.record(z.object({ min: z.number().int().min(1), max: z.number().int().min(1) }).strict()).default({}),
        rules: z.array(scaleRule).default([]),
      })
      .strict()
      .default({}),
    bruteforce: bruteforce.optional(),
    /** how long metrics (InfluxDB retention policy) and logs (Elasticsearch ILM delete phase) are kept: one setting */
    retention: z
      .object({ days: z.number().int().min(1).max(3650) })
      .strict()
      .optional(),
  })
  .strict();

export type SlaRules = z.infer<typeof slaRulesSchema>;
export type SlaBruteforce = z.infer<typeof bruteforce>;
/** A rule as written (alerts[] or autoscale.rules[]; the latter have `direction`). */
export type RawSlaRule = SlaRules['alerts'][number] & { direction?: 'up' | 'down' };
/** The file as provisioning needs it: every section present. */
export type CompleteSlaRules = SlaRules & {
  notify: { slack: { channel: string }; autoscaler: { url: string } };
  bruteforce: SlaBruteforce;
  retention: { days: number };
};

/** A rule with every default (and override) applied. */
export interface SlaRule extends Omit<RawSlaRule, 'period' | 'every' | 'bucket' | 'reduce' | 'hysteresis'> {
  period: string;
  every: string;
  bucket: string;
  reduce: 'mean' | 'max' | 'min' | 'last';
  hysteresis: number;
  /** alerts[] or autoscale.rules[] */
  kind: 'alert' | 'autoscale';
  /** a scale rule (autoscale.rules): the autoscaler target */
  scale?: { service: string; direction: 'up' | 'down' };
}

/** Per-rule overrides (ops and tests lower a threshold without editing the shared file): {"<id>": {"warn": 5, ...}}. */
export const slaRuleOverridesSchema = z.record(
  z
    .object({
      warn: z.number().optional(),
      crit: z.number().optional(),
      period: duration.optional(),
      every: duration.optional(),
      bucket: duration.optional(),
      hysteresis: z.number().min(0).max(1).optional(),
      reduce: reduce.optional(),
    })
    .strict(),
);
export type SlaRuleOverrides = z.infer<typeof slaRuleOverridesSchema>;

const invalid = (source: string, issues: string[]) => new Error(`${source} is invalid:\n  - ${issues.join('\n  - ')}`);
const rawRules = (f: SlaRules): RawSlaRule[] => [...f.alerts, ...f.autoscale.rules];

/** Parses and validates the YAML text; `source` names the file in errors. */
export function parseSlaRules(text: string, source = 'sla-rules.yml'): SlaRules {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new Error(`${source}: ${(err as Error).message}`);
  }
  const r = slaRulesSchema.safeParse(raw);
  if (!r.success)
    throw invalid(
      source,
      r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    );
  const issues: string[] = [];
  const seen = new Set<string>();
  for (const x of rawRules(r.data)) {
    if (seen.has(x.id)) issues.push(`duplicate rule id ${x.id}`);
    seen.add(x.id);
    if (x.crit !== undefined && (x.op === '>' ? x.crit < x.warn : x.crit > x.warn)) issues.push(`rule ${x.id}: crit must be beyond warn`);
  }
  if (issues.length) throw invalid(source, issues);
  return r.data;
}

export function loadSlaRules(file: string): SlaRules {
  return parseSlaRules(readFileSync(file, 'utf8'), file);
}

/** Provisioning generates every section: refuses a file without them. */
export function requireCompleteSlaRules(f: SlaRules, source = 'sla-rules.yml'): CompleteSlaRules {
  const issues: string[] = [];
  if (!f.notify.slack) issues.push('notify.slack.channel is required');
  if (!f.notify.autoscaler) issues.push('notify.autoscaler.url is required');
  if (!f.bruteforce) issues.push('bruteforce is required');
  if (!f.retention) issues.push('retention.days is required');
  if (f.alerts.length === 0) issues.push('alerts: at least one rule is required');
  if (f.autoscale.cooldownSeconds <= 0) issues.push('autoscale.cooldownSeconds must be positive');
  for (const x of rawRules(f)) if (!x.description) issues.push(`rule ${x.id}: description is required`);
  for (const x of f.autoscale.rules) {
    if (!f.autoscale.services[x.service]) issues.push(`autoscale rule ${x.id} names service ${x.service} without bounds in autoscale.services`);
  }
  if (issues.length) throw invalid(source, issues);
  return f as CompleteSlaRules;
}

/** Every rule (alerts, then autoscale.rules) with the file's defaults and the overrides applied. */
export function slaRuleList(f: SlaRules, overrides: SlaRuleOverrides = {}): SlaRule[] {
  const d = f.defaults;
  const fill = (r: RawSlaRule, kind: SlaRule['kind']): SlaRule => {
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
      kind,
      ...(kind === 'autoscale' && r.direction ? { scale: { service: r.service, direction: r.direction } } : {}),
    };
  };
  const rules = [...f.alerts.map((r) => fill(r, 'alert')), ...f.autoscale.rules.map((r) => fill(r, 'autoscale'))];
  const ids = new Set(rules.map((r) => r.id));
  for (const id of Object.keys(overrides)) if (!ids.has(id)) throw new Error(`override for unknown rule ${id}`);
  return rules;
}
