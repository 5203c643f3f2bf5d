import type { Logger } from 'pino';

export type SlackColor = 'good' | 'warning' | 'danger' | string;

export interface SlackMessage {
  text: string;
  color?: SlackColor;
  fields?: Record<string, string | number>;
  channel?: string;
}

/** The Slack incoming-webhook body: `text` fallback, a section block, and the coloured bar via `attachments[].color`. */
export function slackBody(msg: SlackMessage) {
  const fields = Object.entries(msg.fields ?? {}).map(([k, v]) => ({ title: k, value: String(v), short: true }));
  return {
    ...(msg.channel ? { channel: msg.channel } : {}),
    text: msg.text,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: msg.text } }],
    attachments: [{ color: msg.color ?? 'good', fallback: msg.text, fields }],
  };
}

/**
 * Posts to a Slack incoming webhook. Never throws: a dead hook is logged (Slack answers e.g. `no_active_hooks`)
 * and reported as false, so an alert path never fails because Slack is down.
 */
export async function postSlack(webhookUrl: string | undefined, msg: SlackMessage, logger: Logger, timeoutMs = 5000): Promise<boolean> {
  if (!webhookUrl) {
    logger.debug({ text: msg.text }, 'slack: no webhook configured, message not sent');
    return false;
  }
  try {
    const res = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(slackBody(msg)),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) {
      logger.warn({ status: res.status, body: (await res.text()).slice(0, 200) }, 'slack webhook refused the message');
      return false;
    }
    return true;
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'slack webhook unreachable');
    return false;
  }
}

export interface SlackQueueOptions {
  /** Least time between the starts of two posts: Slack takes about one message per second per hook. */
  minIntervalMs?: number;
  /**
   * Folds whatever piled up while the queue waited into ONE message (at most `maxBatch` at a time), so a burst
   * costs a few posts instead of a rate-limited flood. Without it every message goes out alone, in order.
   */
  merge?: (batch: SlackMessage[]) => SlackMessage;
  maxBatch?: number;
}

/**
 * The one rate-limited way to Slack: messages go out in order, at most one post per `minIntervalMs`. `send` never
 * throws and never blocks the caller's work unless awaited; it resolves true when Slack took the message. Without
 * a webhook nothing is queued and `send` resolves false at once. `drain` waits (bounded) for the queue at shutdown.
 */
export class SlackQueue {
  private readonly queue: Array<{ msg: SlackMessage; done: (ok: boolean) => void }> = [];
  private idle: Promise<void> = Promise.resolve();
  private running = false;
  private lastPostAt = Number.NEGATIVE_INFINITY;
  private readonly minIntervalMs: number;
  private readonly maxBatch: number;

  constructor(
    private readonly webhookUrl: string | undefined,
    private readonly logger: Logger,
    private readonly opts: SlackQueueOptions = {},
  ) {
    this.minIntervalMs = opts.minIntervalMs ?? 1100;
    this.maxBatch = opts.merge ? (opts.maxBatch ?? 50) : 1;
  }

  /** Messages queued and not yet posted. */
  get pending(): number {
    return this.queue.length;
  }

  send(msg: SlackMessage): Promise<boolean> {
    if (!this.webhookUrl) return postSlack(undefined, msg, this.logger);
    return new Promise((done) => {
      this.queue.push({ msg, done });
      if (!this.running) this.idle = this.run();
    });
  }

  /** Resolves when everything queued so far was posted, or after `timeoutMs`. */
  async drain(timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    if (!Number.isFinite(timeoutMs)) return this.idle;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle, new Promise((r) => (timer = setTimeout(r, timeoutMs).unref()))]);
    clearTimeout(timer);
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const wait = this.lastPostAt + this.minIntervalMs - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const batch = this.queue.splice(0, this.maxBatch);
        const msg = batch.length === 1 || !this.opts.merge ? batch[0].msg : this.opts.merge(batch.map((b) => b.msg));
        this.lastPostAt = Date.now();
        const ok = await postSlack(this.webhookUrl, msg, this.logger);
        for (const b of batch) b.done(ok);
      }
    } finally {
      this.running = false;
    }
  }
}
