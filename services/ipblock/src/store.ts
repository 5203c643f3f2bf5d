import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

/**
 * Blocks in Redis. Each block is a key with a real Redis TTL (`<prefix>block:<cidr>`) plus a member of a sorted set
 * scored by expiry (the index the list and the sweeper read). Every change increments `<prefix>version` and
 * publishes it on `<prefix>changed`, so waiting long-polls (on every ipblock replica) answer at once.
 */

export interface Block {
  ip: string;
  reason: string;
  source: string;
  createdAt: string;
  expiresAt: string;
}

export interface BlockList {
  version: number;
  blocks: Block[];
}

const BLOCK_LUA = `
local prev = redis.call('ZSCORE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
local v = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[6], v)
if prev and tonumber(prev) > tonumber(ARGV[5]) then return {v, 1} end
return {v, 0}
`;

const UNBLOCK_LUA = `
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local existed = redis.call('DEL', KEYS[1])
if (not score) or tonumber(score) <= tonumber(ARGV[2]) then
  if score then
    local v = redis.call('INCR', KEYS[3])
    redis.call('PUBLISH', ARGV[3], v)
  end
  return {0, existed}
end
local v = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[3], v)
return {v, existed}
`;

// Removes every expired member atomically, so exactly one replica reports each expiry.
const SWEEP_LUA = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #gone == 0 then return {} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, m in ipairs(gone) do redis.call('DEL', ARGV[2] .. m) end
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[3], v)
return gone
`;

export class BlockStore {
  readonly events = new EventEmitter();
  private lastSeen = -1;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'ipblock:',
  ) {
    this.events.setMaxListeners(0);
  }

  get channel(): string {
    return `${this.prefix}changed`;
  }
  private blockKey(ip: string) {
    return `${this.prefix}block:${ip}`;
  }
  private get indexKey() {
    return `${this.prefix}expiry`;
  }
  private get versionKey() {
    return `${this.prefix}version`;
  }

  async version(): Promise<number> {
    return Number((await this.redis.get(this.versionKey)) ?? 0);
  }

  /** Creates or extends a block. `updated` is true when the address was already blocked. */
  async block(ip: string, ttlSeconds: number, reason: string, source: string, now = Date.now()): Promise<{ block: Block; version: number; updated: boolean }> {
    const block: Block = {
      ip,
      reason,
      source,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ttlSeconds * 1000).toISOString(),
    };
    const [version, updated] = (await this.redis.eval(
      BLOCK_LUA,
      3,
      this.blockKey(ip),
      this.indexKey,
      this.versionKey,
      JSON.stringify(block),
      String(ttlSeconds * 1000),
      String(now + ttlSeconds * 1000),
      ip,
      String(now),
      this.channel,
    )) as [number, number];
    this.notify(version);
    return { block, version, updated: updated === 1 };
  }

  /** Removes a live block; null when there was none. */
  async unblock(ip: string, now = Date.now()): Promise<{ version: number } | null> {
    const [version] = (await this.redis.eval(UNBLOCK_LUA, 3, this.blockKey(ip), this.indexKey, this.versionKey, ip, String(now), this.channel)) as [
      number,
      number,
    ];
    if (version === 0) return null;
    this.notify(version);
    return { version };
  }

  /** Live blocks (expiry in the future) and the version they belong to, read in one MULTI. */
  async list(now = Date.now()): Promise<BlockList> {
    const res = await this.redis.multi().get(this.versionKey).zrangebyscore(this.indexKey, `(${now}`, '+inf').exec();
    if (!res) throw new Error('redis transaction aborted');
    for (const [err] of res) if (err) throw err;
    const version = Number(res[0][1] ?? 0);
    const members = res[1][1] as string[];
    if (members.length === 0) return { version, blocks: [] };
    const raw = await this.redis.mget(members.map((m) => this.blockKey(m)));
    const blocks: Block[] = [];
    raw.forEach((json, i) => {
      if (json) blocks.push(JSON.parse(json) as Block);
      else blocks.push({ ip: members[i], reason: '', source: 'unknown', createdAt: '', expiresAt: '' });
    });
    return { version, blocks };
  }

  /** Deletes expired blocks; returns the addresses this call removed. */
  async sweep(now = Date.now()): Promise<string[]> {
    const gone = (await this.redis.eval(SWEEP_LUA, 2, this.indexKey, this.versionKey, String(now), `${this.prefix}block:`, this.channel)) as string[];
    if (gone.length > 0) this.notify(await this.version());
    return gone;
  }

  /** Feeds version numbers from pub/sub (another replica's change) into the waiters. */
  notify(version: number) {
    if (version !== this.lastSeen) {
      this.lastSeen = version;
      this.events.emit('version', version);
    }
  }

  /**
   * Resolves when the version differs from `known` or after `waitMs`. Pub/sub normally wakes it; while anyone waits,
   * the version is also polled once a second, so a lost subscription (Redis failover) delays by 1 s at most.
   */
  async waitForChange(known: number, waitMs: number, signal?: AbortSignal): Promise<void> {
    const current = await this.version();
    this.notify(current);
    if (current !== known || waitMs <= 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.events.off('version', onVersion);
        this.events.off('wake', done);
        signal?.removeEventListener('abort', done);
        if (this.events.listenerCount('version') === 0) this.stopPolling();
        resolve();
      };
      const onVersion = (v: number) => {
        if (v !== known) done();
      };
      const timer = setTimeout(done, waitMs);
      this.events.on('version', onVersion);
      this.events.once('wake', done);
      signal?.addEventListener('abort', done);
      this.startPolling();
    });
  }

  private startPolling() {
    if (this.pollTimer) return;
    this.pollTimer = setInterval(() => {
      this.version().then(
        (v) => this.notify(v),
        () => undefined,
      );
    }, 1000);
    this.pollTimer.unref();
  }

  private stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** Ends every waiting long-poll now (shutdown). */
  wakeAll() {
    this.events.emit('wake');
  }

  close() {
    this.stopPolling();
    this.events.removeAllListeners();
  }
}
