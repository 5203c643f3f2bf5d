/**
 * The alert-id table of configs/alerts/sla-rules.yml (`autoscale.rules[]`: id, service, direction), so a Kapacitor
 * task generated from that file can post its plain alert id (`nginx_scale_up`) and the autoscaler knows the target.
 * Only these three fields are read; the alerter evaluates the full rules.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Direction } from './policy.js';

export type TargetTable = Map<string, { service: string; direction: Direction }>;

export function loadTargets(file: string): TargetTable {
  const doc = parse(readFileSync(file, 'utf8')) as { autoscale?: { rules?: unknown } } | null;
  const rules = doc?.autoscale?.rules;
  const table: TargetTable = new Map();
  if (rules === undefined) return table;
  if (!Array.isArray(rules)) throw new Error(`${file}: autoscale.rules must be a list`);
  rules.forEach((r: { id?: unknown; service?: unknown; direction?: unknown }, i) => {
    if (typeof r?.id !== 'string' || typeof r.service !== 'string' || (r.direction !== 'up' && r.direction !== 'down')) {
      throw new Error(`${file}: autoscale.rules[${i}] needs id, service and direction up|down`);
    }
    table.set(r.id, { service: r.service, direction: r.direction });
  });
  return table;
}
