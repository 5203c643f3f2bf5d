import type { Redis } from 'ioredis';
import { AppError, type Logger } from '@forum/shared';
import type { BlockService } from './blocks.js';

export interface ConsumerOptions {
  stream: string;
  group: string;
  consumer: string;
  ttlSeconds: number;
  /** Pending entries of a consumer that died are claimed after this long. */
  claimIdleMs?: number;
  blockMs?: number;
}

type Entry = [id: string, fields: string[]];

/**
 * Consumes the API's `security:events` stream in consumer group `ipblock` (one delivery across replicas) and blocks
 * the IP of every `login_bruteforce` event, so protection works without the ELK VM. Entries are acknowledged after
 * the block is stored; a crash before that leaves them pending and XAUTOCLAIM hands them to a live replica.
 */
export class SecurityEventConsumer {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private lastClaim = 0;

  constructor(
    private readonly redis: Redis,
    private readonly service: BlockService,
    private readonly logger: Logger,
    private readonly opts: ConsumerOptions,
  ) {}

  start() {
    this.loop = this.run();
  }

  async stop() {
    this.stopped = true;
    this.redis.disconnect();
    await this.loop?.catch(() => undefined);
  }

  private async ensureGroup() {
    try {
      // from the start of the stream: events written before the first ipblock started still count (stale ones are skipped)
      await this.redis.xgroup('CREATE', this.opts.stream, this.opts.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  private async run() {
    let backoff = 500;
    let groupReady = false;
    let readPending = true;
    while (!this.stopped) {
      try {
        if (!groupReady) {
          await this.ensureGroup();
          groupReady = true;
        }
        if (Date.now() - this.lastClaim > (this.opts.claimIdleMs ?? 60_000) / 2) await this.claimAbandoned();
        // first our own pending entries (a restart after a crash), then new ones
        const res = (await this.redis.xreadgroup(
          'GROUP',
          this.opts.group,
          this.opts.consumer,
          'COUNT',
          100,
          'BLOCK',
          readPending ? 1 : (this.opts.blockMs ?? 5000),
          'STREAMS',
          this.opts.stream,
          readPending ? '0' : '>',
        )) as Array<[string, Entry[]]> | null;
        const entries = res?.[0]?.[1] ?? [];
        if (readPending && entries.length === 0) readPending = false;
        for (const entry of entries) await this.handle(entry);
        backoff = 500;
      } catch (err) {
        if (this.stopped) return;
        const msg = (err as Error).message;
        if (msg.includes('NOGROUP')) groupReady = false; // the stream vanished (e.g. Redis failover without persistence)
        this.logger.warn({ err: msg, backoffMs: backoff }, 'security events: read failed, retrying');
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  private async claimAbandoned() {
    this.lastClaim = Date.now();
    const res = (await this.redis.xautoclaim(this.opts.stream, this.opts.group, this.opts.consumer, this.opts.claimIdleMs ?? 60_000, '0', 'COUNT', 100)) as [
      string,
      Entry[],
    ];
    for (const entry of res?.[1] ?? []) if (entry) await this.handle(entry);
  }

  private async handle([id, list]: Entry) {
    if (!list) {
      // deleted from the stream (trimmed) while pending
      await this.redis.xack(this.opts.stream, this.opts.group, id);
      return;
    }
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < list.length; i += 2) f[list[i]] = list[i + 1];
    if (f.type === 'login_bruteforce') {
      const at = Date.parse(f.at ?? '') || Number(id.split('-')[0]);
      const age = (Date.now() - at) / 1000;
      if (age > this.opts.ttlSeconds) {
        this.logger.info({ id, ip: f.ip, ageSeconds: Math.round(age) }, 'security events: stale login_bruteforce skipped');
      } else {
        try {
          const ip = this.service.validate(f.ip);
          const reason = `login_bruteforce: ${f.failures ?? '?'} failed logins in ${f.windowSeconds ?? '?'} s (api)`;
          await this.service.block(ip, Math.max(1, Math.round(this.opts.ttlSeconds - Math.max(0, age))), reason, 'api-event');
        } catch (err) {
          if (!(err instanceof AppError) || err.status >= 500) throw err;
          this.logger.warn({ id, ip: f.ip, code: err.code, detail: err.detail }, 'security events: login_bruteforce not blocked');
        }
      }
    }
    await this.redis.xack(this.opts.stream, this.opts.group, id);
  }
}
