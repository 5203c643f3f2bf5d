import { InfluxDB, type IPoint } from 'influx';
// The pool marks a failed host unavailable for a back-off period; keep that short so writes resume quickly.
import { ExponentialBackoff } from 'influx/lib/src/backoff/exponential.js';
import type { Logger } from 'pino';
import { BufferedWriter } from '@forum/shared';
import { clean, type Point } from './points.js';

export interface WriterOptions {
  url: string;
  database: string;
  retentionPolicy?: string;
  username?: string;
  password?: string;
  batchSize?: number;
  bufferLimit?: number;
  flushIntervalMs?: number;
  timeoutMs?: number;
  logger: Logger;
}

export interface WriterStats {
  buffered: number;
  dropped: number;
  written: number;
  writeErrors: number;
  lastError?: string;
  lastWriteAt?: number;
}

/**
 * Batching InfluxDB 1.x writer. Never throws to the caller and never blocks collection: `add()` only queues.
 * When InfluxDB is down the queue grows up to `bufferLimit`, then drops the oldest points (counted in `dropped`).
 */
export class InfluxWriter extends BufferedWriter<Point> {
  private influx: InfluxDB;
  private dbReady = false;
  readonly stats: WriterStats = { buffered: 0, dropped: 0, written: 0, writeErrors: 0 };
  private readonly batchSize: number;

  constructor(private readonly opts: WriterOptions) {
    super({ capacity: opts.bufferLimit ?? 100_000, flushIntervalMs: opts.flushIntervalMs ?? 1000, unrefTimer: true });
    this.influx = this.client();
    this.batchSize = opts.batchSize ?? 5000;
  }

  private client(): InfluxDB {
    const opts = this.opts;
    const u = new URL(opts.url);
    return new InfluxDB({
      host: u.hostname,
      port: Number(u.port || (u.protocol === 'https:' ? 443 : 8086)),
      protocol: u.protocol === 'https:' ? 'https' : 'http',
      database: opts.database,
      username: opts.username,
      password: opts.password,
      pool: {
        maxRetries: 0,
        requestTimeout: opts.timeoutMs ?? 5000,
        backoff: new ExponentialBackoff({ initial: 200, max: 2000, random: 0 }),
      },
    });
  }

  /**
   * A hard deadline on every InfluxDB call: a request that never settles (e.g. a DNS lookup of a service with no
   * task on an internal overlay network) must not wedge the single-flight flush forever. On timeout the client is
   * replaced, so no stuck pool state survives.
   */
  private async deadline<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = (this.opts.timeoutMs ?? 5000) + 2000;
    let t: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        p,
        new Promise<T>((_, rej) => {
          t = setTimeout(() => {
            this.influx = this.client();
            rej(new Error(`${what} timed out after ${ms} ms`));
          }, ms);
        }),
      ]);
    } finally {
      clearTimeout(t);
    }
  }

  add(points: Point[]): void {
    const now = new Date();
    const ok: Point[] = [];
    for (const p of points) {
      const c = clean(p);
      if (c) ok.push({ ...c, timestamp: c.timestamp ?? now });
    }
    this.buffer.push(...ok);
    this.refresh();
  }

  /** Writes everything queued, batch by batch; stops at the first failure and keeps the rest queued. */
  protected async doFlush(): Promise<void> {
    {
      try {
        if (!this.dbReady && this.buffer.size > 0) {
          // CREATE DATABASE is idempotent in 1.x; the local InfluxDB starts empty.
          try {
            await this.deadline(this.influx.createDatabase(this.opts.database), 'CREATE DATABASE');
          } catch (err) {
            // a non-admin user on an external InfluxDB may not create databases: the database exists there already
            if (!/authoriz|forbidden|\b403\b|\b401\b/i.test((err as Error).message ?? '')) throw err;
          }
          this.dbReady = true;
        }
        while (this.buffer.size > 0) {
          const batch = this.buffer.take(this.batchSize);
          try {
            await this.deadline(
              this.influx.writePoints(batch as unknown as IPoint[], {
                database: this.opts.database,
                retentionPolicy: this.opts.retentionPolicy,
                precision: 'ms',
              }),
              'write',
            );
            this.stats.written += batch.length;
            this.stats.lastWriteAt = Date.now();
          } catch (err) {
            const msg = (err as Error).message ?? String(err);
            // 4xx from InfluxDB (e.g. a field type conflict) would never succeed: drop that batch, count it.
            if (/\b(400|partial write|field type conflict|unable to parse)\b/i.test(msg)) {
              this.buffer.dropped += batch.length;
              this.opts.logger.warn({ err: msg, points: batch.length }, 'influxdb rejected a batch; dropped');
            } else {
              this.buffer.unshift(batch);
              throw err;
            }
          }
        }
      } catch (err) {
        this.stats.writeErrors += 1;
        const msg = (err as Error).message ?? String(err);
        if (this.stats.lastError !== msg) this.opts.logger.warn({ err: msg, buffered: this.buffer.size }, 'influxdb write failed; buffering');
        this.stats.lastError = msg;
        this.dbReady = false;
        return;
      }
      this.stats.lastError = undefined;
    }
  }
}
