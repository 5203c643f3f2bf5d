import { Redis } from 'ioredis';
import { int, parseNumber, type FieldValue, type Point } from '@forum/shared/influx';
import type { CollectContext, Collector, Target } from './types.js';

/**
 * One ioredis connection per Redis target, kept across gathers (as for PostgreSQL): a connection per gather was a
 * TCP handshake + AUTH on every Redis every 10 s from every node. ioredis reconnects by itself every 0.5..2 s,
 * shorter than a gather, so a restarted Redis is scraped again at the next gather; after ten failed tries it gives
 * up, so a target that went away is not dialled forever (its next scrape opens a new connection). A scrape never
 * queues behind a dead connection (offline queue off): it waits at most the scrape timeout for one that is ready.
 * A target unused for a minute (its task went away) is closed.
 */
interface Held {
  redis: Redis;
  lastUsed: number;
  lastError?: string;
}
const held = new Map<string, Held>();
const IDLE_CLOSE_MS = 60_000;

function drop(key: string, h: Held): void {
  if (held.get(key) === h) held.delete(key);
  h.redis.disconnect();
}

function open(t: Target, ctx: CollectContext): Held {
  const redis = new Redis({
    host: t.address,
    port: t.port,
    username: ctx.creds.redisUser,
    password: ctx.creds.redisPassword,
    connectTimeout: ctx.timeoutMs,
    commandTimeout: ctx.timeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // gives up after ~20 s (status end): a target that went away stops being dialled; its next scrape reopens
    retryStrategy: (times) => (times > 10 ? null : Math.min(times * 500, 2000)),
  });
  const h: Held = { redis, lastUsed: Date.now() };
  // errors also surface on the scrape; the listener keeps ioredis from reporting them as unhandled
  redis.on('error', (err: Error) => (h.lastError = err.message));
  redis.on('ready', () => (h.lastError = undefined));
  return h;
}

/** Resolves when the connection is ready; rejects on its next error or after `ms`. */
function ready(h: Held, ms: number, where: string): Promise<void> {
  const r = h.redis;
  if (r.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      r.off('ready', onReady);
      r.off('error', onError);
      if (err) reject(new Error(`redis ${where}: ${err.message}`));
      else resolve();
    };
    const onReady = () => done();
    const onError = (err: Error) => done(err);
    const timer = setTimeout(() => done(new Error(`not connected after ${ms} ms (${h.lastError ?? r.status})`)), ms);
    r.once('ready', onReady);
    r.once('error', onError);
  });
}

/** INFO of a target over its kept connection. */
export async function redisInfo(t: Target, ctx: CollectContext): Promise<string> {
  const now = Date.now();
  for (const [k, x] of held) if (now - x.lastUsed > IDLE_CLOSE_MS) drop(k, x);
  const key = `${t.address}:${t.port}`;
  let h = held.get(key);
  if (!h || h.redis.status === 'end') {
    if (h) drop(key, h);
    h = open(t, ctx);
    held.set(key, h);
  }
  h.lastUsed = now;
  await ready(h, ctx.timeoutMs, key);
  try {
    return await h.redis.info();
  } catch (err) {
    throw new Error(`redis ${key}: ${(err as Error).message}`, { cause: err });
  }
}

/** Closes the connections kept for the targets (on shutdown). */
export function closeRedisConnections(): void {
  for (const [k, h] of held) drop(k, h);
}

/**
 * Telegraf inputs.redis: measurement redis (tags server, port, replication_role) with every numeric INFO field,
 * connected_clients renamed clients, keyspace_hitrate added; redis_keyspace per database (tag database).
 */
export function parseRedisInfo(info: string, server: string, port: string): Point[] {
  const fields: Record<string, FieldValue> = {};
  const keyspace: Point[] = [];
  let role = 'unknown';
  for (const line of info.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i < 0) continue;
    let name = line.slice(0, i);
    const val = line.slice(i + 1);
    if (name === 'role') {
      role = val;
      continue;
    }
    const db = /^db(\d+)$/.exec(name);
    if (db) {
      const kv = Object.fromEntries(val.split(',').map((p) => p.split('=') as [string, string]));
      keyspace.push({
        measurement: 'redis_keyspace',
        tags: { server, port, database: name },
        fields: { keys: int(Number(kv.keys ?? 0)), expires: int(Number(kv.expires ?? 0)), avg_ttl: int(Number(kv.avg_ttl ?? 0)) },
      });
      continue;
    }
    if (name === 'connected_clients') name = 'clients';
    // Telegraf keeps these as float even when the value looks integral.
    if (/^used_cpu_/.test(name) || /_ratio$|_perc$|_kbps$|_per_sec_/.test(name) || name === 'mem_fragmentation_ratio') {
      const n = Number(val);
      if (Number.isFinite(n)) fields[name] = n;
      continue;
    }
    const n = parseNumber(val);
    if (n !== undefined) fields[name] = n;
    else if (name === 'redis_version' || name === 'maxmemory_policy' || name === 'aof_last_bgrewrite_status' || name === 'rdb_last_bgsave_status')
      fields[name] = val;
  }
  const hits = Number(fields.keyspace_hits ?? 0);
  const misses = Number(fields.keyspace_misses ?? 0);
  fields.keyspace_hitrate = hits + misses > 0 ? hits / (hits + misses) : 0;
  return [{ measurement: 'redis', tags: { server, port, replication_role: role }, fields }, ...keyspace];
}

export const collectRedis: Collector = async (t, ctx) => {
  const info = await redisInfo(t, ctx);
  return parseRedisInfo(info, t.address, String(t.port));
};
