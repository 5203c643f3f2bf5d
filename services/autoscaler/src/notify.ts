import { postSlack, type Logger, type SlackMessage } from '@forum/shared';
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
 * A serial Slack queue: posts in order, at most one message per `minIntervalMs`; never blocks a decision.
 * `drain()` waits (bounded) for queued messages at shutdown.
 */
export class SlackQueue {
  private chain: Promise<void> = Promise.resolve();
  private last = 0;
  pending = 0;

  constructor(
    private readonly url: string | undefined,
    private readonly logger: Logger,
    private readonly minIntervalMs = 1100,
  ) {}

  push(msg: SlackMessage): void {
    if (!this.url) return;
    this.pending++;
    this.chain = this.chain.then(async () => {
      const wait = this.last + this.minIntervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.last = Date.now();
      await postSlack(this.url, msg, this.logger);
      this.pending--;
    });
  }

  async drain(timeoutMs = 5000): Promise<void> {
    await Promise.race([this.chain, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }
}
