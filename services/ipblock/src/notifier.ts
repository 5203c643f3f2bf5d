import { postSlack, type Logger, type SlackMessage } from '@forum/shared';

/**
 * Slack takes about one message per second per hook. Messages queue here and go out one per `minIntervalMs`;
 * whatever piled up meanwhile is sent as ONE message listing every event, so a burst of blocks costs a few
 * posts instead of a rate-limited flood, and none is dropped.
 */
export class SlackNotifier {
  private queue: SlackMessage[] = [];
  private running = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly webhookUrl: string | undefined,
    private readonly logger: Logger,
    private readonly minIntervalMs = 1000,
  ) {}

  send(msg: SlackMessage) {
    this.queue.push(msg);
    if (!this.running) this.idle = this.drain();
  }

  /** Resolves when everything queued so far was posted (tests, shutdown). */
  flushed(): Promise<void> {
    return this.idle;
  }

  private async drain() {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, 50);
        const msg: SlackMessage =
          batch.length === 1
            ? batch[0]
            : {
                text: `${batch.length} IP block changes:\n${batch.map((m) => `• ${m.text}`).join('\n')}`,
                color: batch.some((m) => m.color === 'danger') ? 'danger' : 'good',
              };
        await postSlack(this.webhookUrl, msg, this.logger);
        if (this.queue.length > 0) await new Promise((r) => setTimeout(r, this.minIntervalMs));
      }
    } finally {
      this.running = false;
    }
  }
}
