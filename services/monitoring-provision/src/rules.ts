/**
 * configs/alerts/sla-rules.yml for the generators: the shared parser (@forum/shared/sla-rules, the same one the
 * alerter uses), plus the sections provisioning needs (Slack channel, autoscaler URL, bruteforce, service bounds).
 */
import { loadSlaRules, requireCompleteSlaRules, slaRuleList, type CompleteSlaRules, type SlaRule } from '@forum/shared/sla-rules';

export type Rules = CompleteSlaRules;
/** A rule with every default applied (what the generators use). */
export type Rule = SlaRule;

export function loadRules(path: string): Rules {
  return requireCompleteSlaRules(loadSlaRules(path), path);
}

export function allRules(r: Rules): Rule[] {
  return slaRuleList(r);
}
