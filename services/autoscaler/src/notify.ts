import type { SlackMessage } from '@forum/shared';
import type { Decision } from './scaler.js';

/** Slack colour by outcome: scaled green, refused amber, rejected/failed red. */
export function colourOf(d: Decision): string {
  if (d.outcome === 'scaled') return 'good';
  if (d.outcome === 'refused') return 'warning';
  return 'danger';
}

export function decisionMessage(d: Decision, channel?: string): SlackMessage {
  const icon = d.outcome === 'scaled' ? ':arrow_' + (d.direction === 'up' ? 'up:' : 'down:') : d.outcome === 'refused' ? ':no_entry:' : ':x:';
  const fields: Record<string, string | number> = { outcome: `${d.outcome} (${d.code})`, source: d.source, reason: d.reason };
  if (d.from !== undefined) fields.replicas = d.to !== undefined && d.to !== d.from ? `${d.from} -> ${d.to}` : String(d.from);
  if (d.min !== undefined) fields.bounds = `${d.min}..${d.max}`;
  if (d.nextAllowedAt) fields['next change allowed'] = d.nextAllowedAt;
  return { text: `${icon} autoscaler: ${d.detail}`, color: colourOf(d), fields, ...(channel ? { channel } : {}) };
}

/**
 * Alert tools repeat a firing scale alert (Kapacitor every evaluation, Alertmanager every repeat_interval, Kibana
 * on every active check) so that it keeps scaling once a cooldown ends. The refusals in between (cooldown, at a
 * bound) are expected: Slack gets the first refusal of a (service, direction, code) from a hook, not each repeat;
 * a change of the service (scaled) re-arms it. Direct API calls are always posted. Counters and logs keep them all.
 */
export class RepeatedRefusals {
  private readonly seen = new Set<string>();

  shouldPost(d: Decision): boolean {
    if (d.outcome === 'scaled') {
      for (const k of [...this.seen]) if (k.startsWith(`${d.service}\u0000`)) this.seen.delete(k);
      return true;
    }
    if (d.outcome !== 'refused' || d.source === 'api') return true;
    const key = `${d.service}\u0000${d.direction}\u0000${d.code}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }
}
