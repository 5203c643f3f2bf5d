import { Client, errors } from '@elastic/elasticsearch';
import type { Logger } from 'pino';
import { BufferedWriter } from '@forum/shared';
import type { EcsDoc } from './ecs.js';

export interface QueuedDoc {
  index: string;
  id: string;
  doc: EcsDoc;
  attempts: number;
}

export interface ShipperOptions {
  node: string;
  username?: string;
  password?: string;
  apiKey?: string;
  pipeline?: string;
  batchSize?: number;
  bufferLimit?: number;
  flushIntervalMs?: number;
  maxItemAttempts?: number;
  requestTimeoutMs?: number;
  logger: Logger;
}

export interface ShipperStats {
  buffered: number;
  dropped: number;
  shipped: number;
  duplicates: number;
  rejected: number;
  bulkErrors: number;
  lastError?: string;
}

/**
 * Ships ECS documents with the official client's bulk API. `create` actions with deterministic ids make re-sends
 * idempotent (409 = already there). Transport failures keep the batch queued (bounded: the oldest are dropped and
 * counted); per-item 429/5xx are retried, other per-item errors (mapping conflicts) are counted and dropped.
 */
export class EsShipper extends BufferedWriter<QueuedDoc> {
  readonly client: Client;
  readonly stats: ShipperStats = { buffered: 0, dropped: 0, shipped: 0, duplicates: 0, rejected: 0, bulkErrors: 0 };

  constructor(private readonly o: ShipperOptions) {
    super({ capacity: o.bufferLimit ?? 50_000, flushIntervalMs: o.flushIntervalMs ?? 1000 });
    this.client = new Client({
      node: o.node,
      auth: o.apiKey ? { apiKey: o.apiKey } : o.username ? { username: o.username, password: o.password ?? '' } : undefined,
      maxRetries: 3,
      requestTimeout: o.requestTimeoutMs ?? 10_000,
      compression: false,
    });
  }

  add(index: string, id: string, doc: EcsDoc): void {
    this.buffer.push({ index, id, doc, attempts: 0 });
    this.refresh();
    if (this.buffer.size >= (this.o.batchSize ?? 500)) void this.flush();
  }

  async stop(): Promise<void> {
    await super.stop();
    await this.client.close().catch(() => undefined);
  }

  protected async doFlush(): Promise<void> {
    const max = this.o.maxItemAttempts ?? 5;
    while (this.buffer.size > 0) {
      const batch = this.buffer.take(this.o.batchSize ?? 500);
      const operations: unknown[] = [];
      for (const q of batch) operations.push({ create: { _index: q.index, _id: q.id } }, q.doc);
      let res;
      try {
        res = await this.client.bulk({ operations, pipeline: this.o.pipeline });
      } catch (err) {
        this.buffer.unshift(batch);
        this.stats.bulkErrors += 1;
        const msg = err instanceof errors.ResponseError ? `HTTP ${err.statusCode}: ${err.message}` : (err as Error).message;
        if (this.stats.lastError !== msg) this.o.logger.warn({ err: msg, buffered: this.buffer.size }, 'elasticsearch bulk failed; buffering');
        this.stats.lastError = msg;
        return;
      }
      this.stats.lastError = undefined;
      const retry: QueuedDoc[] = [];
      res.items.forEach((item, i) => {
        const r = item.create ?? item.index ?? Object.values(item)[0];
        const q = batch[i];
        if (!r || !r.error) {
          this.stats.shipped += 1;
          return;
        }
        if (r.status === 409) {
          this.stats.duplicates += 1;
          return;
        }
        if ((r.status === 429 || r.status >= 500) && q.attempts + 1 < max) {
          retry.push({ ...q, attempts: q.attempts + 1 });
          return;
        }
        this.stats.rejected += 1;
        this.o.logger.warn({ index: q.index, status: r.status, reason: r.error?.reason, type: r.error?.type }, 'elasticsearch rejected a document');
      });
      if (retry.length > 0) {
        this.buffer.unshift(retry);
        return; // the next tick retries them (no hot loop against an overloaded cluster)
      }
    }
  }
}
