import { AppError, type Logger, type SlackMessage, type SlackQueue } from '@forum/shared';
import { BlockPolicy, PolicyError } from './ip-policy.js';
import type { Block, BlockStore } from './store.js';

export interface BlockServiceOptions {
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
}

/** The use cases: block, unblock, expire. Each change is stored, then announced on Slack. */
export class BlockService {
  constructor(
    private readonly store: BlockStore,
    private readonly policy: BlockPolicy,
    private readonly slack: SlackQueue,
    private readonly logger: Logger,
    private readonly opts: BlockServiceOptions,
  ) {}

  /** Canonical range or a 4xx naming the problem. */
  validate(ip: unknown): string {
    if (typeof ip !== 'string') throw new AppError('invalid_ip', 400, 'ip is required: an IPv4 or IPv6 address or CIDR.');
    try {
      return this.policy.check(ip);
    } catch (err) {
      if (err instanceof PolicyError) throw new AppError(err.code, err.code === 'invalid_ip' ? 400 : 422, err.message);
      throw err;
    }
  }

  validateTtl(ttlSeconds: number | undefined): number {
    const ttl = ttlSeconds ?? this.opts.defaultTtlSeconds;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > this.opts.maxTtlSeconds) {
      throw new AppError('invalid_ttl', 400, `ttlSeconds must be an integer from 1 to ${this.opts.maxTtlSeconds}.`);
    }
    return ttl;
  }

  async block(ip: string, ttlSeconds: number, reason: string, source: string): Promise<{ block: Block; version: number; updated: boolean }> {
    const result = await this.store.block(ip, ttlSeconds, reason, source);
    this.logger.info({ event: 'ip_blocked', ip, ttlSeconds, reason, source, version: result.version, updated: result.updated }, 'ip blocked');
    void this.slack.send({
      text: `:no_entry: ${result.updated ? 'Block extended' : 'Blocked'} ${ip} for ${ttlSeconds} s (${source}): ${reason}`,
      color: 'danger',
      fields: { ip, source, expiresAt: result.block.expiresAt },
    });
    return result;
  }

  async unblock(ip: string, by: string): Promise<{ version: number } | null> {
    const result = await this.store.unblock(ip);
    if (!result) return null;
    this.logger.info({ event: 'ip_unblocked', ip, by, version: result.version }, 'ip unblocked');
    void this.slack.send({ text: `:white_check_mark: Unblocked ${ip} (${by})`, color: 'good', fields: { ip } });
    return result;
  }

  async sweep(): Promise<string[]> {
    const gone = await this.store.sweep();
    for (const ip of gone) {
      this.logger.info({ event: 'ip_block_expired', ip }, 'ip block expired');
      void this.slack.send({ text: `:hourglass: Block of ${ip} expired`, color: 'good', fields: { ip } });
    }
    return gone;
  }
}

/**
 * The changes that piled up while the Slack queue waited, as ONE message listing every event: a burst of blocks
 * costs a few posts instead of a rate-limited flood, and none is dropped.
 */
export function blockChangesDigest(batch: SlackMessage[]): SlackMessage {
  return {
    text: `${batch.length} IP block changes:\n${batch.map((m) => `• ${m.text}`).join('\n')}`,
    color: batch.some((m) => m.color === 'danger') ? 'danger' : 'good',
  };
}
