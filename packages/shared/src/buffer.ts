/**
 * Bounded buffering for shippers that must never block or grow without limit while their sink is down
 * (metrics-agent -> InfluxDB, log-shipper -> Elasticsearch).
 */

/** FIFO with a hard cap: pushing past the cap drops the OLDEST items and counts them in `dropped`. */
export class BoundedBuffer<T> {
  private items: T[] = [];
  dropped = 0;
  constructor(readonly capacity: number) {}
  get size(): number {
    return this.items.length;
  }
  push(...xs: T[]): void {
    this.items.push(...xs);
    this.trim();
  }
  take(n: number): T[] {
    return this.items.splice(0, n);
  }
  /** Puts a failed batch back at the head (still bounded: overflow drops the oldest). */
  unshift(xs: T[]): void {
    this.items = xs.concat(this.items);
    this.trim();
  }
  private trim(): void {
    const over = this.items.length - this.capacity;
    if (over > 0) {
      this.items.splice(0, over);
      this.dropped += over;
    }
  }
}

export interface BufferedWriterStats {
  buffered: number;
  dropped: number;
}

export interface BufferedWriterOptions {
  /** BoundedBuffer capacity */
  capacity: number;
  /** periodic flush after start() */
  flushIntervalMs: number;
  /** unref the flush timer (it alone does not keep the process alive) */
  unrefTimer?: boolean;
}

/**
 * A BoundedBuffer drained by a periodic, single-flight flush: `flush()` while one runs returns the running one;
 * `stats.buffered` / `stats.dropped` follow the buffer after every flush (and whenever a subclass calls refresh()).
 * Subclasses implement `doFlush()` (send batches from `this.buffer`; on failure put them back with `unshift`).
 */
export abstract class BufferedWriter<T> {
  readonly buffer: BoundedBuffer<T>;
  abstract readonly stats: BufferedWriterStats;
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;

  constructor(private readonly bw: BufferedWriterOptions) {
    this.buffer = new BoundedBuffer<T>(bw.capacity);
  }

  protected abstract doFlush(): Promise<void>;

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.bw.flushIntervalMs);
    if (this.bw.unrefTimer) this.timer.unref();
  }

  /** Stops the timer and flushes what is queued (what cannot be sent stays queued). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  protected refresh(): void {
    this.stats.buffered = this.buffer.size;
    this.stats.dropped = this.buffer.dropped;
  }

  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    // clear in .finally (a microtask): an IIFE that never awaits would run its own finally before the assignment
    this.flushing = this.doFlush().finally(() => {
      this.refresh();
      this.flushing = undefined;
    });
    return this.flushing;
  }
}
