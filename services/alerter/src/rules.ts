/**
 * configs/alerts/sla-rules.yml (schema version 1; parsed and validated by @forum/shared/sla-rules, the same parser
 * monitoring-provision uses) as the alerter sees it, rendered to InfluxQL exactly as the schema says, so the alerter
 * and the Kapacitor tasks agree.
 */
import { loadSlaRules, parseSlaRules, slaRuleList, slaRuleOverridesSchema, type SlaRule, type SlaRuleOverrides, type SlaRules } from '@forum/shared/sla-rules';

/** A rule with every default applied (`scale` on autoscale.rules). */
export type Rule = SlaRule;
export type RulesFile = SlaRules;

export interface LoadedRules {
  database: string;
  retentionPolicy: string;
  slackChannel?: string;
  autoscalerUrl?: string;
  cooldownSeconds: number;
  rules: Rule[];
}

/** Per-rule overrides (RULE_OVERRIDES): {"<id>": {"warn": 5, ...}}. */
export const overridesSchema = slaRuleOverridesSchema;
export type Overrides = SlaRuleOverrides;

function loaded(f: SlaRules, overrides: Overrides): LoadedRules {
  return {
    database: f.influx.database,
    retentionPolicy: f.influx.retentionPolicy,
    slackChannel: f.notify.slack?.channel,
    autoscalerUrl: f.notify.autoscaler?.url,
    cooldownSeconds: f.autoscale.cooldownSeconds,
    rules: slaRuleList(f, overrides),
  };
}

export function parseRules(text: string, source = 'sla-rules.yml', overrides: Overrides = {}): LoadedRules {
  return loaded(parseSlaRules(text, source), overrides);
}

export function loadRules(file: string, overrides: Overrides = {}): LoadedRules {
  return loaded(loadSlaRules(file), overrides);
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
