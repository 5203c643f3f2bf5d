import type { Logger } from '@forum/shared';
import { within, type Redis } from './redis.js';

/** The Redis pub/sub channel every replica listens on; a message is a thread id, or "*" for "list pages only". */
export const INVALIDATE_CHANNEL = 'forum:cache:invalidate';
/** A page filled this soon after its thread changed may come from a standby that has not replayed the change yet... */
export const SETTLE_MS = 2000;
/** ...so it lives only this long. */
export const SETTLE_TTL_MS = 1000;

interface Entry {
  body: Buffer;
  expires: number;
  /** from this time on, the first hit starts `refresh` (once) while the entry keeps being served until `expires` */
  refreshAt: number;
  refresh?: () => void;
}

/** Rebuilds a page in the background (the route's guest build through its single-flight); never throws. */
export type Refresh = () => void;

/** Taken before a page is built; the page is stored only if its thread did not change in between. */
export interface Ticket {
  epoch: number;
  seq: number;
  at: number;
}

/**
 * Serialized JSON of GUESTS' pages (thread pages, thread objects, thread lists), per process. The rule
 * (docs/API-DECISIONS.md "Guests' page cache"):
 * - every write that changes a thread drops that thread's pages and all list pages here at once, then PUBLISHes the
 *   thread id on INVALIDATE_CHANNEL after its commit; every replica drops them when the message arrives (ms);
 * - a replica caches only while its subscriber connection is subscribed: when that connection drops, the cache is
 *   emptied and stays off until the SUBSCRIBE is confirmed again (and emptied once more), so a message missed
 *   while disconnected can never leave a stale page behind;
 * - a page whose build overlapped an invalidation of its thread (ticket check) is not stored, so a read that began
 *   before a write committed cannot store the pre-write page after the invalidation went by;
 * - a page filled less than SETTLE_MS after its thread's invalidation lives SETTLE_TTL_MS (guests read from
 *   balanced standbys that may lag a little); any other page lives `ttlMs` (ANON_CACHE_MS), the bound for whatever
 *   escapes the above (a standby lagging seconds, a PUBLISH that failed while the subscribers stayed connected).
 * Signed-in users never get cached pages (per-user fields, read-your-own-writes).
 */
export class PageCache {
  private threads = new Map<number, Map<string, Entry>>();
  private lists = new Map<string, Entry>();
  /** thread id -> (seq, time) of its last invalidation; kept RECENT_MS (longer than any build may take). */
  private recent = new Map<number, { seq: number; at: number }>();
  private listsSeq = 0;
  private seq = 0;
  private epoch = 0;
  /** Guests' page builds in flight, by page: concurrent misses of one page share one build (no stampede). */
  readonly flights = new Map<string, { ticket: Ticket; body: Promise<Buffer> }>();
  /** bytes of cached bodies (the budget is maxBytes: the api runs with a 512 MB memory limit) */
  private bytes = 0;
  private subscribed = false;
  private static readonly RECENT_MS = 60_000;
  /** lookups while enabled: hits served from memory, misses built from the database (metrics) */
  readonly lookups = { hit: 0, miss: 0 };
  private lastPrune = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** Caching happens only while the TTL is positive and the invalidation channel is subscribed. */
  get enabled(): boolean {
    return this.ttlMs > 0 && this.subscribed;
  }

  /** Called by the subscriber: true once SUBSCRIBE is confirmed, false when its connection drops. Both empty the cache. */
  setSubscribed(on: boolean): void {
    this.subscribed = on;
    this.clear();
  }

  clear(): void {
    this.threads = new Map();
    this.lists = new Map();
    this.bytes = 0;
    this.epoch++;
  }

  private fresh(m: Map<string, Entry> | undefined, key: string, now: number): Buffer | undefined {
    const e = m?.get(key);
    if (!e) return undefined;
    if (e.expires > now) {
      if (now >= e.refreshAt && e.refresh) {
        // refresh ahead: rebuild before expiry so a hot page never makes a reader wait on the database
        const refresh = e.refresh;
        e.refresh = undefined;
        setImmediate(refresh);
      }
      return e.body;
    }
    m!.delete(key);
    this.bytes -= e.body.length;
    return undefined;
  }

  /** `countMiss` false: a caller whose miss goes on to a lookup that counts (the fast path, then the route) */
  getThread(threadId: number, key: string, countMiss = true): Buffer | undefined {
    return this.enabled ? this.count(this.fresh(this.threads.get(threadId), key, Date.now()), countMiss) : undefined;
  }

  getList(key: string): Buffer | undefined {
    return this.enabled ? this.count(this.fresh(this.lists, key, Date.now())) : undefined;
  }

  private count(body: Buffer | undefined, countMiss = true): Buffer | undefined {
    if (body) this.lookups.hit++;
    else if (countMiss) this.lookups.miss++;
    return body;
  }

  ticket(): Ticket {
    return { epoch: this.epoch, seq: this.seq, at: Date.now() };
  }

  /** Makes room for `add` bytes: drops expired pages first, everything if that is not enough. */
  private room(add: number): void {
    if (this.bytes + add <= this.maxBytes) return;
    const now = Date.now();
    const sweep = (m: Map<string, Entry>) => {
      for (const [k, e] of m)
        if (e.expires <= now) {
          m.delete(k);
          this.bytes -= e.body.length;
        }
    };
    for (const [id, m] of this.threads) {
      sweep(m);
      if (m.size === 0) this.threads.delete(id);
    }
    sweep(this.lists);
    if (this.bytes + add <= this.maxBytes * 0.75) return;
    this.threads = new Map();
    this.lists = new Map();
    this.bytes = 0;
  }

  /** Bytes of cached bodies (tests, metrics). */
  get sizeBytes(): number {
    return this.bytes;
  }

  /** Nothing dropped the thread's pages since the ticket was taken. */
  threadUnchanged(threadId: number, t: Ticket): boolean {
    return t.epoch === this.epoch && (this.recent.get(threadId)?.seq ?? -1) <= t.seq && Date.now() - t.at < PageCache.RECENT_MS / 2;
  }

  /** Nothing dropped the list pages since the ticket was taken. */
  listsUnchanged(t: Ticket): boolean {
    return t.epoch === this.epoch && this.listsSeq <= t.seq && Date.now() - t.at < PageCache.RECENT_MS / 2;
  }

  /**
   * Expiry for a page filled now (0: do not store it): SETTLE_TTL_MS just after an invalidation, else `ttlMs` minus
   * up to a quarter at random, so pages filled together do not all expire (and rebuild) in the same instant.
   */
  private expiry(unchanged: boolean, lastAt: number): number {
    if (!this.enabled || !unchanged) return 0;
    const now = Date.now();
    if (now - lastAt < SETTLE_MS) return now + Math.min(SETTLE_TTL_MS, this.ttlMs);
    return now + this.ttlMs - Math.floor(Math.random() * (this.ttlMs / 4));
  }

  /** The last quarter of an entry's life is its refresh-ahead window. */
  private entry(body: Buffer, expires: number, refresh?: Refresh): Entry {
    return { body, expires, refreshAt: expires - (expires - Date.now()) / 4, refresh };
  }

  setThread(threadId: number, key: string, body: Buffer, t: Ticket, refresh?: Refresh): void {
    const expires = this.expiry(this.threadUnchanged(threadId, t), this.recent.get(threadId)?.at ?? 0);
    if (!expires) return;
    this.room(body.length);
    let m = this.threads.get(threadId);
    if (!m) this.threads.set(threadId, (m = new Map()));
    this.bytes += body.length - (m.get(key)?.body.length ?? 0);
    m.set(key, this.entry(body, expires, refresh));
  }

  setList(key: string, body: Buffer, t: Ticket, refresh?: Refresh): void {
    const expires = this.expiry(this.listsUnchanged(t), this.listsAt);
    if (!expires) return;
    this.room(body.length);
    this.bytes += body.length - (this.lists.get(key)?.body.length ?? 0);
    this.lists.set(key, this.entry(body, expires, refresh));
  }

  private listsAt = 0;

  /** A thread changed (here or on another replica): its pages and every list page may be stale. 0 = lists only. */
  invalidateThread(threadId: number): void {
    const now = Date.now();
    const seq = ++this.seq;
    if (threadId > 0) {
      const m = this.threads.get(threadId);
      if (m) {
        for (const e of m.values()) this.bytes -= e.body.length;
        this.threads.delete(threadId);
      }
      this.recent.set(threadId, { seq, at: now });
    }
    this.listsSeq = seq;
    this.listsAt = now;
    for (const e of this.lists.values()) this.bytes -= e.body.length;
    this.lists = new Map();
    if (now - this.lastPrune > PageCache.RECENT_MS) {
      this.lastPrune = now;
      for (const [id, r] of this.recent) if (now - r.at > PageCache.RECENT_MS) this.recent.delete(id);
    }
  }
}

/**
 * Invalidation across replicas: a dedicated subscriber connection feeds `cache.invalidateThread`, and
 * `publish` drops the pages here at once and tells every other replica (after the write committed).
 */
export class CacheBus {
  private readonly sub?: Redis;
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly cache: PageCache,
    private readonly logger: Logger,
    enabled: boolean,
  ) {
    if (!enabled) return;
    const sub = redis.duplicate({ autoResubscribe: false, maxRetriesPerRequest: null, lazyConnect: false });
    this.sub = sub;
    sub.on('error', () => undefined); // the main client logs connection errors
    sub.on('message', (_channel: string, msg: string) => {
      const id = msg === '*' ? 0 : Number(msg);
      if (Number.isSafeInteger(id) && id >= 0) cache.invalidateThread(id);
      else cache.clear();
    });
    const off = () => cache.setSubscribed(false);
    sub.on('close', off);
    sub.on('end', off);
    sub.on('reconnecting', off);
    sub.on('ready', () => {
      sub.subscribe(INVALIDATE_CHANNEL).then(
        () => {
          if (!this.closed && sub.status === 'ready') cache.setSubscribed(true);
        },
        (err: Error) => logger.warn({ err: err.message }, 'cache invalidation subscribe failed; guests are served uncached'),
      );
    });
  }

  /** Drops the thread's pages (0 = lists only) here, then on every replica. Never throws. */
  async publish(threadId: number): Promise<void> {
    this.cache.invalidateThread(threadId);
    try {
      // bounded: while Redis fails over the other replicas' subscribers are down too, so their caches are off anyway
      await within(this.redis.publish(INVALIDATE_CHANNEL, threadId > 0 ? String(threadId) : '*'), 500);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, threadId }, 'cache invalidation publish failed; other replicas expire the pages by ANON_CACHE_MS');
    }
  }

  close(): void {
    this.closed = true;
    this.cache.setSubscribed(false);
    this.sub?.disconnect();
  }
}
