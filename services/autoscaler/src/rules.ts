/**
 * The alert-id table of configs/alerts/sla-rules.yml (`autoscale.rules[]`: id, service, direction), so a Kapacitor
 * task generated from that file can post its plain alert id (`nginx_scale_up`) and the autoscaler knows the target.
 * The file is read with the shared parser (the one the alerter and monitoring-provision use); only the targets of
 * the scale rules are kept here.
 */
import { loadSlaRules } from '@forum/shared/sla-rules';
import type { Direction } from './policy.js';

export type TargetTable = Map<string, { service: string; direction: Direction }>;

export function loadTargets(file: string): TargetTable {
  return new Map(loadSlaRules(file).autoscale.rules.map((r) => [r.id, { service: r.service, direction: r.direction }]));
}
