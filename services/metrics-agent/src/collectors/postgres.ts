import pg from 'pg';
import { int, type FieldValue, type Point } from '@forum/shared/influx';
import type { CollectContext, Collector, Target } from './types.js';

const DB_INT = [
  'numbackends',
  'xact_commit',
  'xact_rollback',
  'blks_read',
  'blks_hit',
  'tup_returned',
  'tup_fetched',
  'tup_inserted',
  'tup_updated',
  'tup_deleted',
  'conflicts',
  'temp_files',
  'temp_bytes',
  'deadlocks',
];

/**
 * One connection per target, kept across gathers (as Telegraf's inputs.postgresql keeps its database/sql pool).
 * A new connection each gather forked a backend on every PostgreSQL node every interval, plus a pgpool child's
 * backend connections through each pgpool (the connection log: 1.2 backend forks a second from this agent).
 * A connection that fails is dropped and the next gather opens a new one; one unused for a minute (its task went
 * away) is closed.
 */
interface Held {
  client: Promise<pg.Client>;
  lastUsed: number;
}
const held = new Map<string, Held>();
const IDLE_CLOSE_MS = 60_000;

const end = (h: Held): Promise<void> => h.client.then((c) => c.end()).catch(() => undefined);

function drop(key: string, h: Held): void {
  if (held.get(key) === h) held.delete(key);
  void end(h);
}

function connect(t: Target, ctx: CollectContext, key: string): Held {
  const client = new pg.Client({
    host: t.address,
    port: t.port,
    user: ctx.creds.pgUser,
    password: ctx.creds.pgPassword,
    database: ctx.creds.pgDatabase ?? 'postgres',
    connectionTimeoutMillis: ctx.timeoutMs,
    statement_timeout: ctx.timeoutMs,
    query_timeout: ctx.timeoutMs,
    application_name: 'metrics-agent',
    keepAlive: true,
  });
  const h: Held = { client: client.connect().then(() => client), lastUsed: Date.now() };
  // a backend or pgpool that goes away ends the connection: forget it so the next gather reconnects
  client.on('error', () => drop(key, h));
  client.on('end', () => held.get(key) === h && held.delete(key));
  h.client.catch(() => drop(key, h));
  return h;
}

async function withClient<T>(t: Target, ctx: CollectContext, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const now = Date.now();
  for (const [k, h] of held) if (now - h.lastUsed > IDLE_CLOSE_MS) drop(k, h);
  const key = `${t.address}:${t.port}:${ctx.creds.pgUser ?? ''}:${ctx.creds.pgDatabase ?? 'postgres'}`;
  let h = held.get(key);
  if (!h) {
    h = connect(t, ctx, key);
    held.set(key, h);
  }
  h.lastUsed = now;
  const client = await h.client;
  try {
    return await fn(client);
  } catch (err) {
    drop(key, h); // a timed-out or failed query leaves the session in an unknown state
    throw err;
  }
}

/** Closes the connections kept for the targets (on shutdown). */
export async function closePgConnections(): Promise<void> {
  const all = [...held.values()];
  held.clear();
  await Promise.all(all.map(end));
}

const num = (v: unknown): number => (v === null || v === undefined ? NaN : Number(v));

/**
 * Telegraf inputs.postgresql: measurement postgresql, tags db + server, pg_stat_database counters and
 * pg_stat_bgwriter counters (PostgreSQL 17 moved checkpoint counters to pg_stat_checkpointer: mapped back to
 * Telegraf's names). Replication lag goes to postgresql_replication (lag_seconds float, is_standby int).
 */
export const collectPostgres: Collector = (t, ctx) =>
  withClient(t, ctx, async (c) => {
    const server = `host=${t.address} port=${t.port}`;
    const points: Point[] = [];
    const dbs = await c.query(`SELECT datname, ${DB_INT.join(', ')} FROM pg_stat_database WHERE datname IS NOT NULL`);
    for (const r of dbs.rows) {
      const fields: Record<string, FieldValue> = {};
      for (const k of DB_INT) if (r[k] !== null && r[k] !== undefined) fields[k] = int(num(r[k]));
      points.push({ measurement: 'postgresql', tags: { db: r.datname, server }, fields });
    }
    const hasCheckpointer = (await c.query(`SELECT to_regclass('pg_catalog.pg_stat_checkpointer') IS NOT NULL AS ok`)).rows[0].ok;
    const bg = (await c.query('SELECT * FROM pg_stat_bgwriter')).rows[0] ?? {};
    const fields: Record<string, FieldValue> = {};
    for (const k of [
      'buffers_alloc',
      'buffers_backend',
      'buffers_checkpoint',
      'buffers_clean',
      'checkpoints_req',
      'checkpoints_timed',
      'maxwritten_clean',
      'buffers_backend_fsync',
    ]) {
      if (bg[k] !== undefined && bg[k] !== null) fields[k] = int(num(bg[k]));
    }
    if (hasCheckpointer) {
      const cp = (await c.query('SELECT num_timed, num_requested, buffers_written FROM pg_stat_checkpointer')).rows[0];
      if (cp) {
        fields.checkpoints_timed = int(num(cp.num_timed));
        fields.checkpoints_req = int(num(cp.num_requested));
        fields.buffers_checkpoint = int(num(cp.buffers_written));
      }
      const io = (await c.query(`SELECT coalesce(sum(writes),0) AS w FROM pg_stat_io WHERE backend_type = 'client backend'`).catch(() => undefined))?.rows[0];
      if (io) fields.buffers_backend = int(num(io.w));
    }
    points.push({ measurement: 'postgresql', tags: { db: 'postgres', server }, fields });

    const rep = (
      await c.query(`SELECT pg_is_in_recovery() AS standby,
        CASE WHEN pg_is_in_recovery() THEN
          CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
               ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END
        ELSE coalesce((SELECT max(extract(epoch FROM replay_lag)) FROM pg_stat_replication), 0) END AS lag,
        (SELECT count(*) FROM pg_stat_replication) AS replicas`)
    ).rows[0];
    points.push({
      measurement: 'postgresql_replication',
      tags: { server },
      fields: { lag_seconds: num(rep.lag), is_standby: int(rep.standby ? 1 : 0), connected_replicas: int(num(rep.replicas)) },
    });
    return points;
  });

/** What SHOW POOL_NODES adds to SHOW POOL_BACKEND_STATS, per backend node_id, as last read from one pgpool. */
interface PoolNodesExtra {
  at: number;
  nodes: Map<string, { lb_weight: number; replication_delay: FieldValue; load_balance_node: FieldValue }>;
}
const poolNodesSeen = new Map<string, PoolNodesExtra>();
/** Pgpool's streaming check (sr_check_period in images/pgpool/pgpool.conf.tmpl) refreshes replication_delay this often. */
export const POOL_NODES_EVERY_MS = 30_000;

/**
 * Pgpool-II: measurement pgpool, one point per backend node as each pgpool task sees it.
 * Status, role and select_cnt come from `SHOW POOL_BACKEND_STATS` at every gather: pgpool answers it from its shared
 * memory. `SHOW POOL_NODES` also has lb_weight, load_balance_node and replication_delay, but it connects to every
 * backend twice for its pg_status and pg_role columns: 6 backend forks per call over 3 nodes, 1.8 a second from 3
 * pgpool targets every 10 s (the connection log, BENCHMARKS.md thirty-fifth session). Those three fields change at
 * most every sr_check_period (replication_delay, 30 s) or with the configuration (lb_weight), so they are read every
 * POOL_NODES_EVERY_MS and repeated in between. The price: replication_delay reaches InfluxDB up to 30 s later.
 */
export const collectPgpool: Collector = (t, ctx) =>
  withClient(t, ctx, async (c) => {
    const server = `${t.address}:${t.port}`;
    const stats = await c.query('SHOW POOL_BACKEND_STATS');
    const now = Date.now();
    // a pgpool task unread for as long as withClient keeps an unused connection is gone: forget it the same way
    for (const [k, v] of poolNodesSeen) if (now - v.at > IDLE_CLOSE_MS) poolNodesSeen.delete(k);
    let extra = poolNodesSeen.get(server);
    if (!extra || now - extra.at >= POOL_NODES_EVERY_MS) {
      const res = await c.query('SHOW POOL_NODES');
      extra = { at: now, nodes: new Map() };
      for (const r of res.rows as Record<string, string>[]) {
        extra.nodes.set(String(r.node_id), {
          lb_weight: Number(r.lb_weight),
          replication_delay: int(Number(r.replication_delay ?? 0)),
          load_balance_node: int(r.load_balance_node === 'true' ? 1 : 0),
        });
      }
      poolNodesSeen.set(server, extra);
    }
    const nodes = extra.nodes;
    return stats.rows.map((r: Record<string, string>) => ({
      measurement: 'pgpool',
      tags: { server, node_id: String(r.node_id), hostname: r.hostname, backend_port: String(r.port), role: r.role ?? '' },
      fields: {
        status: String(r.status),
        up: int(r.status === 'up' || r.status === 'waiting' ? 1 : 0),
        select_cnt: int(Number(r.select_cnt ?? 0)),
        ...nodes.get(String(r.node_id)),
      },
    }));
  });
