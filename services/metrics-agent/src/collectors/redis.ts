import net from 'node:net';
import { int, parseNumber, type FieldValue, type Point } from '../points.js';
import type { Collector } from './types.js';

function cmd(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** Minimal RESP exchange: optional AUTH, then INFO; resolves with the INFO bulk string. */
export function redisInfo(host: string, port: number, password: string | undefined, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    let authed = password === undefined;
    const done = (err?: Error, v?: string) => {
      sock.destroy();
      if (err) reject(err);
      else resolve(v!);
    };
    sock.setTimeout(timeoutMs, () => done(new Error(`redis ${host}:${port} timed out`)));
    sock.on('error', (e) => done(e));
    sock.on('connect', () => {
      if (password !== undefined) sock.write(cmd('AUTH', password));
      sock.write(cmd('INFO'));
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const head = buf.subarray(0, nl).toString();
        if (head.startsWith('-')) return done(new Error(`redis: ${head.slice(1)}`));
        if (!authed && head.startsWith('+')) {
          authed = true;
          buf = buf.subarray(nl + 2);
          continue;
        }
        if (head.startsWith('$')) {
          const len = Number(head.slice(1));
          if (buf.length < nl + 2 + len) return;
          return done(undefined, buf.subarray(nl + 2, nl + 2 + len).toString());
        }
        return done(new Error(`redis: unexpected reply ${head.slice(0, 40)}`));
      }
    });
  });
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
    else if (name === 'redis_version' || name === 'maxmemory_policy' || name === 'aof_last_bgrewrite_status' || name === 'rdb_last_bgsave_status') fields[name] = val;
  }
  const hits = Number(fields.keyspace_hits ?? 0);
  const misses = Number(fields.keyspace_misses ?? 0);
  fields.keyspace_hitrate = hits + misses > 0 ? hits / (hits + misses) : 0;
  return [{ measurement: 'redis', tags: { server, port, replication_role: role }, fields }, ...keyspace];
}

export const collectRedis: Collector = async (t, ctx) => {
  const info = await redisInfo(t.address, t.port, ctx.creds.redisPassword, ctx.timeoutMs);
  return parseRedisInfo(info, t.address, String(t.port));
};
