/**
 * A tiny per-process cache of serialized responses for GUESTS only (85% of traffic reads threads anonymously).
 * Entries live `ttlMs` (1 s by default): a guest may see a page up to that stale on another replica, the same
 * staleness the load-balanced read pool already allows. Writes through this process drop the thread's entries
 * (and all list pages) at once, so a replica never serves its own writes stale.
 */
export class MicroCache {
  private readonly threads = new Map<number, Map<string, { body: Buffer; expires: number }>>();
  private lists = new Map<string, { body: Buffer; expires: number }>();
  private size = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get enabled(): boolean {
    return this.ttlMs > 0;
  }

  private fresh(m: Map<string, { body: Buffer; expires: number }> | undefined, key: string): Buffer | undefined {
    const e = m?.get(key);
    if (!e) return undefined;
    if (e.expires > Date.now()) return e.body;
    m!.delete(key);
    this.size--;
    return undefined;
  }

  getThread(threadId: number, key: string): Buffer | undefined {
    return this.enabled ? this.fresh(this.threads.get(threadId), key) : undefined;
  }

  getList(key: string): Buffer | undefined {
    return this.enabled ? this.fresh(this.lists, key) : undefined;
  }

  private room(): void {
    if (this.size < this.maxEntries) return;
    this.threads.clear();
    this.lists.clear();
    this.size = 0;
  }

  setThread(threadId: number, key: string, body: Buffer): void {
    if (!this.enabled) return;
    this.room();
    let m = this.threads.get(threadId);
    if (!m) this.threads.set(threadId, (m = new Map()));
    if (!m.has(key)) this.size++;
    m.set(key, { body, expires: Date.now() + this.ttlMs });
  }

  setList(key: string, body: Buffer): void {
    if (!this.enabled) return;
    this.room();
    if (!this.lists.has(key)) this.size++;
    this.lists.set(key, { body, expires: Date.now() + this.ttlMs });
  }

  /** A thread changed: its pages and every list page may be stale. */
  invalidateThread(threadId: number): void {
    const m = this.threads.get(threadId);
    if (m) {
      this.size -= m.size;
      this.threads.delete(threadId);
    }
    this.size -= this.lists.size;
    this.lists = new Map();
  }
}
