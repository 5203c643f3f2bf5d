import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '@forum/shared';
import { writeFileAtomic } from './files.js';
import { liveKeys, nextExpiry, renderBlocklist, type BlockEntry } from './blocklist.js';

export interface AgentOptions {
  ipblockUrl: string;
  token: string;
  file: string;
  debounceMs: number;
  minReloadIntervalMs: number;
  waitSeconds: number;
  logger: Logger;
  /** Asks NGINX to re-read its configuration (SIGHUP to the master). */
  reload: () => void;
}

interface ListResponse {
  version: number;
  blocks: BlockEntry[];
}

/**
 * Keeps the blocklist include in step with ipblock: long-polls `GET /v1/blocks?since=<version>&wait=<s>`, renders
 * the live entries, and reloads NGINX when the file content changed. Changes are debounced (first change + debounce,
 * and at most one reload per minReloadInterval), so a burst of blocks costs one or two reloads, not one each.
 */
export class BlocklistAgent {
  private latest: ListResponse | undefined;
  private written: string | undefined;
  private applyTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private lastReloadAt = 0;
  private stopped = false;
  private polling: AbortController | undefined;
  readonly stats = { reloads: 0, syncs: 0, errors: 0, version: -1, entries: 0, lastSyncAt: '', lastError: '' };

  constructor(private readonly o: AgentOptions) {}

  private get statusFile() {
    return join(dirname(this.o.file), 'status.json');
  }

  async fetchList(since?: number, waitSeconds = 0, signal?: AbortSignal): Promise<ListResponse> {
    const q = since === undefined ? '' : `?since=${since}&wait=${waitSeconds}`;
    const timeout = AbortSignal.timeout((waitSeconds + 10) * 1000);
    const res = await fetch(`${this.o.ipblockUrl.replace(/\/$/, '')}/v1/blocks${q}`, {
      headers: { authorization: `Bearer ${this.o.token}`, accept: 'application/json' },
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    if (!res.ok) throw new Error(`ipblock answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const body = (await res.json()) as ListResponse;
    if (typeof body.version !== 'number' || !Array.isArray(body.blocks)) throw new Error('ipblock answered an unexpected body');
    return body;
  }

  /**
   * Writes the full current list before NGINX starts. Retries until `timeoutMs`; then keeps an existing file or
   * writes an empty one, so the edge still comes up when ipblock is down (logged as an error).
   */
  async initialSync(timeoutMs: number): Promise<boolean> {
    await mkdir(dirname(this.o.file), { recursive: true });
    const deadline = Date.now() + timeoutMs;
    let delay = 250;
    for (;;) {
      try {
        const list = await this.fetchList();
        this.latest = list;
        await this.write(Date.now());
        this.stats.syncs++;
        this.o.logger.info({ version: list.version, entries: this.stats.entries }, 'blocklist: initial list applied');
        return true;
      } catch (err) {
        this.stats.errors++;
        this.stats.lastError = (err as Error).message;
        if (Date.now() + delay > deadline) break;
        this.o.logger.warn({ err: (err as Error).message }, 'blocklist: ipblock not reachable yet, retrying');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
    const existing = await readFile(this.o.file, 'utf8').catch(() => undefined);
    if (existing === undefined) await writeFileAtomic(this.o.file, renderBlocklist([], -1));
    this.o.logger.error(
      { timeoutMs, lastError: this.stats.lastError },
      'blocklist: starting NGINX WITHOUT a fresh blocklist; will apply it as soon as ipblock answers',
    );
    return false;
  }

  /** The long-poll loop; resolves after stop(). */
  async run(): Promise<void> {
    let delay = 500;
    while (!this.stopped) {
      this.polling = new AbortController();
      try {
        // no list yet (ipblock was unreachable at start): fetch the full list first, then long-poll from its version
        const list = this.latest
          ? await this.fetchList(this.latest.version, this.o.waitSeconds, this.polling.signal)
          : await this.fetchList(undefined, 0, this.polling.signal);
        this.stats.syncs++;
        this.stats.lastSyncAt = new Date().toISOString();
        delay = 500;
        if (!this.latest || list.version !== this.latest.version) {
          this.latest = list;
          this.schedule();
        }
      } catch (err) {
        if (this.stopped) break;
        this.stats.errors++;
        this.stats.lastError = (err as Error).message;
        this.o.logger.warn({ err: (err as Error).message, retryMs: delay }, 'blocklist: poll failed, keeping the current list');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  stop() {
    this.stopped = true;
    this.polling?.abort();
    clearTimeout(this.applyTimer);
    clearTimeout(this.expiryTimer);
  }

  /** Coalesces changes: apply after the debounce, and never sooner than minReloadInterval after the last reload. */
  private schedule() {
    if (this.applyTimer || this.stopped) return;
    const delay = Math.max(this.o.debounceMs, this.lastReloadAt + this.o.minReloadIntervalMs - Date.now());
    this.applyTimer = setTimeout(() => {
      this.applyTimer = undefined;
      this.apply().catch((err) => {
        this.stats.errors++;
        this.stats.lastError = (err as Error).message;
        this.o.logger.error({ err: (err as Error).message }, 'blocklist: could not apply the list');
      });
    }, delay);
  }

  private async apply() {
    if (await this.write(Date.now())) {
      this.lastReloadAt = Date.now();
      this.stats.reloads++;
      this.o.reload();
      this.o.logger.info({ version: this.stats.version, entries: this.stats.entries, reloads: this.stats.reloads }, 'blocklist: applied, nginx reloading');
    }
    await this.writeStatus();
  }

  /** Renders the live entries; true when the file changed. Also arms the timer for the next local expiry. */
  private async write(now: number): Promise<boolean> {
    const list = this.latest ?? { version: -1, blocks: [] };
    const { keys, rejected } = liveKeys(list.blocks, now);
    if (rejected.length) this.o.logger.warn({ rejected }, 'blocklist: entries NGINX could not parse were skipped');
    this.stats.version = list.version;
    this.stats.entries = keys.length;
    clearTimeout(this.expiryTimer);
    const next = nextExpiry(list.blocks, now);
    if (next !== undefined) {
      this.expiryTimer = setTimeout(() => this.schedule(), Math.min(next - now + 20, 2 ** 31 - 1));
      this.expiryTimer.unref();
    }
    const content = renderBlocklist(keys, list.version);
    // the header carries the version: compare the entries only, so a version bump alone does not reload
    const body = content.slice(content.indexOf('\n') + 1);
    if (this.written !== undefined && body === this.written) return false;
    await writeFileAtomic(this.o.file, content);
    this.written = body;
    return true;
  }

  async writeStatus() {
    await writeFileAtomic(this.statusFile, JSON.stringify({ ...this.stats, at: new Date().toISOString() })).catch(() => undefined);
  }
}
