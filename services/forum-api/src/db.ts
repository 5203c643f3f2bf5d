import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { isConnectionLoss, isTimeoutToConnect } from '@forum/shared';
import { followHostAddresses } from './dns-follow.js';
import type { Config } from './config.js';

// int8 (count(*)) as JS number: our counts stay far below 2^53
pg.types.setTypeParser(20, (v) => Number(v));

export type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * Two pools to ONE address (Pgpool in the stack). They differ only in application_name, which pgpool's
 * app_name_redirect_preference_list maps: `rw` -> primary (writes and reads that must see the user's own
 * writes), `ro` -> load balanced (stale-tolerant anonymous reads). See docs/API-DECISIONS.md.
 */
export interface Db {
  rw: pg.Pool;
  ro: pg.Pool;
  /** Direct connections to the PostgreSQL nodes: the read path while Pgpool's primary is away (see routeQueries). */
  direct: DirectNodes;
  /** true while the primary's route lost its connection within ROUTE_DOWN_MS (optional writes skip it). */
  primaryDown(): boolean;
  /** Statements sent so far (tests assert "one query per list page" with it). */
  stats: { queries: number };
  /** Runs fn in a transaction on the primary pool. */
  tx<T>(fn: (c: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * A statement that only reads: safe to send again when its connection broke before an answer came, and to answer
 * from a standby. A SELECT, or a WITH query without data-modifying parts (the thread lists are WITH RECURSIVE).
 */
const LOCKS_OR_SIDE_EFFECTS = /\b(for\s+(update|share|no\s+key\s+update|key\s+share)|nextval|setval|pg_advisory\w*)\b/i;
const MODIFIES = /\b(insert\s+into|update\s+\w+\s+set|delete\s+from|merge\s+into)\b/i;
export function isReadOnly(sql: string): boolean {
  if (LOCKS_OR_SIDE_EFFECTS.test(sql)) return false;
  if (/^\s*select\b/i.test(sql)) return true;
  return /^\s*with\b/i.test(sql) && !MODIFIES.test(sql);
}
const READ_ONLY = { test: isReadOnly };
// ~20 s in all: a PostgreSQL failover (repmgrd promotion + pgpool's failover, during which pgpool refuses sessions)
// takes 5-10 s on a quiet machine; under load on a slower one, requests waited 10-13 s (a fault run, BENCHMARKS.md). Between
// attempts a read also tries the nodes directly (below), so in practice it is answered within the first attempts.
const READ_RETRY_DELAYS_MS = [200, 400, 800, 1500, 2500, 3500, 5000, 6000];
/** After a connection loss on a route, its reads go straight to the nodes for this long, then try the route again. */
const ROUTE_DOWN_MS = 1500;
/** For this long after a connection loss a route is suspect: a read it has not answered within SUSPECT_HEDGE_MS is also tried on the nodes. */
const SUSPECT_MS = 30_000;
const SUSPECT_HEDGE_MS = 1000;
/**
 * A read on a healthy route that has no answer after this long is also tried on the nodes. A Pgpool whose new session
 * hangs (right after a backend died, before anything on this api task failed) held a signed-in read for the pool's
 * whole 10 s connection timeout: a reader noticed the failover. The price: a read slower than this under heavy load
 * runs twice, bounded by the node pools' 5 sessions per node.
 */
const READ_POOL_PATIENCE_MS = 3000;
/** true when `p` settles within `ms` (resolved or rejected: its outcome is then awaited by the caller) */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}
/** While the route is suspect, a write waits this long for Pgpool's connection before it also looks for the primary on the nodes. */
const WRITE_POOL_HEAD_START_MS = 250;
/**
 * Otherwise it waits this long. A healthy Pgpool gives a session in milliseconds; one that accepts and does not answer
 * (a killed standby: new sessions hung for the pool's whole 10 s connection timeout, then the write failed) costs this
 * much instead. Shorter would send writes to the nodes during ordinary bursts, where the pool's queue is the point.
 */
const WRITE_POOL_PATIENCE_MS = 2000;
/** A BEGIN lost with its connection is sent again this many times in all (see beginTx). */
const BEGIN_ATTEMPTS = 3;
/**
 * A write that did nothing is sent again, for up to this long: one refused as read-only (25006), and one that never
 * got a connection (Pgpool refuses new sessions while it fails a primary over, and no node is primary yet). A primary
 * that is stopping (a drain, an update) first makes new transactions read-only and lets the open ones finish
 * (images/postgres/entrypoint.sh, stop_member), and a write may also reach a standby while Pgpool has no primary.
 * Within this bound the write lands on the promoted primary instead of failing; beyond it, 503 + Retry-After.
 * A connection lost under a sent statement is NOT retried: the statement may have committed.
 * 30 s: a planned switchover on the loaded 3-node test cluster kept writes from a primary for 14-17 s (old primary
 * read-only, drained, stopped, then the standby promoted), and 15 s answered every write that began in its first
 * seconds 503. The SLA gives a POST 50 s. The price: while no primary exists for longer (a node loss whose election
 * is slow), a write waits 30 s for its 503, and the api holds one retrying request per waiting write (no database
 * connection: the attempts back off from 300 ms to 1.5 s).
 */
const NOTHING_DONE_RETRY_MS = 30_000;
const NOTHING_DONE_RETRY_DELAYS_MS = [300, 300, 600, 1000, 1500];
/** errors of writes that never reached a server: no connection was made (see connectForWrite) */
const unsent = new WeakSet<object>();
const isReadOnlyRefusal = (err: unknown) => (err as { code?: string })?.code === '25006';
// WeakSet.has answers false for a primitive (only add throws on one)
const nothingDone = (err: unknown) => isReadOnlyRefusal(err) || unsent.has(err as object);

/**
 * How long after this api task last saw a write refused as read-only (25006) a connection lost under a write still
 * counts as nothing done: a primary that is stopping (stop_member) is read-only from its drain until its shutdown
 * (PG_STOP_DRAIN_SECONDS 5 s plus a checkpoint, a few seconds), and the shutdown then ends every session, so Pgpool
 * answers the next statement on each "unable to read data from DB node N": the server could only have refused it.
 */
const STOPPING_PRIMARY_MS = 30_000;
let readOnlySeenAt = 0;

/**
 * Runs `attempt` again while it fails having done nothing, for up to NOTHING_DONE_RETRY_MS. A connection lost under
 * the statement counts as nothing done only while the primary is known to be stopping (this write, or another one of
 * this task, was refused as read-only within STOPPING_PRIMARY_MS). In the cluster's maintenance drill each drained
 * primary's shutdown answered 3-4 writes 503 without this. The price: had Pgpool already moved the session to a newly
 * promoted primary, and that one died under the statement too (a second failover within these seconds), or had the
 * write been open through the stopping primary's whole drain (5 s), the write could land twice.
 */
export async function whileNothingDone<T>(attempt: () => Promise<T>): Promise<T> {
  const until = Date.now() + NOTHING_DONE_RETRY_MS;
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const stopping = Date.now() - readOnlySeenAt < STOPPING_PRIMARY_MS;
      const safe = nothingDone(err) || (stopping && isConnectionLoss(err));
      if (isReadOnlyRefusal(err)) readOnlySeenAt = Date.now();
      if (!safe || Date.now() >= until) throw err;
    }
    await sleep(NOTHING_DONE_RETRY_DELAYS_MS[Math.min(n, NOTHING_DONE_RETRY_DELAYS_MS.length - 1)]);
  }
}
/**
 * What a request carries through its database calls (set per request by `consistencyMiddleware`): the WAL position
 * of this client's last write, which a standby must have replayed before it answers the client's reads, and the
 * callbacks that tell the response "this read may be stale" / "this request wrote up to LSN x".
 */
export interface ReadScope {
  minLsn?: bigint;
  stale?: () => void;
  wrote?: (lsn: string) => void;
  /** background work of the api itself (the session revocation poll): not counted in Db.stats */
  internal?: boolean;
}
export const readScope = new AsyncLocalStorage<ReadScope>();

/** "16/B374D848" -> bigint; undefined for anything else (the value comes from a cookie). */
export function parseLsn(s: string | undefined): bigint | undefined {
  const m = s ? /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(s) : null;
  return m ? (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`) : undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const routeFailure = (err: unknown) => isConnectionLoss(err) || isTimeoutToConnect(err);
/** A write refused because the primary is failing over: connection lost, no connection, or routed to a standby (25006). */
export const isFailoverError = (err: unknown) => routeFailure(err) || isReadOnlyRefusal(err);

interface NodeState {
  host: string;
  port: number;
  pool: pg.Pool;
  downUntil: number;
}

/**
 * Direct connections to every PostgreSQL node (pg-0..2), bypassing Pgpool: the read path while Pgpool has no
 * primary (a failover: pgpool restarts all its children and refuses sessions while it searches the new primary),
 * or while the api cannot reach Pgpool at all. node-postgres has no target_session_attrs, so each read probes the
 * nodes itself (`pg_is_in_recovery()`, `pg_last_wal_replay_lsn()`) and picks one that has replayed the client's last
 * write; after `waitMs` it takes the most advanced one and marks the answer stale. Small pools (5 per node), opened
 * only when used and closed after 30 s idle: outside failovers they hold no connection.
 */
export class DirectNodes {
  private nodes = new Map<string, NodeState>();
  /** answered reads (ok) and those answered before the node caught up with the client's write (stale) */
  readonly counts = { ok: 0, stale: 0, failed: 0 };

  constructor(
    private readonly base: pg.PoolConfig,
    private readonly waitMs: number,
    private readonly onConnect: (client: pg.PoolClient) => void,
  ) {}

  get size(): number {
    return this.nodes.size;
  }

  hosts(): string[] {
    return [...this.nodes.keys()];
  }

  setHosts(list: { host: string; port: number }[]): void {
    const want = new Set(list.map((n) => `${n.host}:${n.port}`));
    for (const [key, n] of this.nodes)
      if (!want.has(key)) {
        this.nodes.delete(key);
        n.pool.end().catch(() => undefined);
      }
    for (const n of list) {
      const key = `${n.host}:${n.port}`;
      if (this.nodes.has(key)) continue;
      const pool = new pg.Pool({ ...this.base, host: n.host, port: n.port, max: 5, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 2000 });
      pool.on('error', () => undefined);
      pool.on('connect', this.onConnect);
      this.nodes.set(key, { host: n.host, port: n.port, pool, downUntil: 0 });
    }
  }

  /** One node's role and replay position; a node that does not answer is skipped for 2 s. */
  private async probe(n: NodeState): Promise<{ n: NodeState; standby: boolean; replay: bigint }> {
    try {
      const { rows } = await n.pool.query<{ r: boolean; l: string | null }>('SELECT pg_is_in_recovery() AS r, pg_last_wal_replay_lsn()::text AS l');
      return { n, standby: rows[0].r, replay: parseLsn(rows[0].l ?? undefined) ?? 0n };
    } catch (err) {
      n.downUntil = Date.now() + 2000;
      throw err;
    }
  }

  /**
   * Runs a read on a node that has replayed `minLsn` (a primary always has), waiting up to waitMs for one; then on
   * the most advanced node that answered, with stale = true. Throws the last connection error when none answers.
   */
  async read(args: unknown[], minLsn: bigint | undefined): Promise<{ result: unknown; stale: boolean; node: string }> {
    const deadline = Date.now() + this.waitMs;
    let lastErr: unknown = new Error('no PostgreSQL node answers (Connection terminated)');
    for (;;) {
      const now = Date.now();
      const candidates = [...this.nodes.values()].filter((n) => n.downUntil <= now);
      const pool = candidates.length ? candidates : [...this.nodes.values()];
      if (!pool.length) throw lastErr;
      // the first node that satisfies the client wins; the others' answers only matter if none does
      const answered: { n: NodeState; standby: boolean; replay: bigint }[] = [];
      const ok = (p: { standby: boolean; replay: bigint }) => !p.standby || minLsn === undefined || p.replay >= minLsn;
      const pick = await new Promise<{ n: NodeState; standby: boolean; replay: bigint } | undefined>((resolve) => {
        let pending = pool.length;
        for (const n of pool)
          this.probe(n).then(
            (p) => {
              answered.push(p);
              if (ok(p)) resolve(p);
              if (--pending === 0) resolve(undefined);
            },
            (err) => {
              lastErr = err;
              if (--pending === 0) resolve(undefined);
            },
          );
      });
      let stale = false;
      let chosen = pick;
      if (!chosen && answered.length && Date.now() >= deadline) {
        chosen = answered.sort((a, b) => (a.replay > b.replay ? -1 : 1))[0];
        stale = true;
      }
      if (chosen) {
        try {
          const result = await (chosen.n.pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
          this.counts[stale ? 'stale' : 'ok']++;
          return { result, stale, node: chosen.n.host };
        } catch (err) {
          if (!routeFailure(err)) throw err;
          chosen.n.downUntil = Date.now() + 2000;
          lastErr = err;
          continue;
        }
      }
      if (!answered.length) {
        this.counts.failed++;
        throw lastErr;
      }
      await sleep(25);
    }
  }

  private primaryCache?: { pool: pg.Pool; until: number };
  /**
   * The primary's pool, found on the nodes themselves: only when a majority of the known nodes answers and exactly one
   * of them is not in recovery. Never a guess: two primaries, or a minority's view (this api cut off with one node),
   * give undefined and the write goes through Pgpool as usual. An isolated old primary cannot acknowledge a commit
   * anyway (quorum synchronous commit needs a standby), so a write sent to it waits and fails, it is not lost.
   * Cached for 1 s: during a failover many writes ask at once.
   */
  async primary(): Promise<pg.Pool | undefined> {
    const now = Date.now();
    if (this.primaryCache && this.primaryCache.until > now) return this.primaryCache.pool;
    const all = [...this.nodes.values()];
    const answers = (await Promise.allSettled(all.map((n) => this.probe(n)))).flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const primaries = answers.filter((a) => !a.standby);
    this.primaryCache = undefined;
    if (answers.length * 2 <= all.length || primaries.length !== 1) return undefined;
    this.primaryCache = { pool: primaries[0].n.pool, until: Date.now() + 1000 };
    return primaries[0].n.pool;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.nodes.values()].map((n) => n.pool.end()));
    this.nodes.clear();
  }
}

/** A route (rw: Pgpool's primary, ro: Pgpool's balanced standbys) and when it last lost a connection. */
class RouteState {
  downUntil = 0;
  suspectUntil = 0;
  /** a read is testing the suspect route: the others go to the nodes meanwhile (one pending read on it, not dozens) */
  probing = false;
  failed(): void {
    const now = Date.now();
    this.downUntil = now + ROUTE_DOWN_MS;
    this.suspectUntil = now + SUSPECT_MS;
  }
  /** nodes first: the route is down, or suspect with a probe in flight */
  avoid(now: number): boolean {
    return this.downUntil > now || (this.suspectUntil > now && this.probing);
  }
}

/**
 * pool.query() of a plain SELECT is a READ, routed so that a PostgreSQL failover does not fail it:
 * - normally it goes to its route through Pgpool (rw: the primary, so a signed-in user sees their own writes;
 *   ro: a balanced standby);
 * - when the route loses its connection (pgpool drops every session on a primary failover, then refuses new ones
 *   while it searches the new primary), the read goes to the nodes directly (DirectNodes): for rw, a node that has
 *   replayed this client's last write, waiting up to PG_STANDBY_WAIT_MS, else the most advanced one with
 *   `X-Stale: 1`; for the next ROUTE_DOWN_MS reads skip the route, and for SUSPECT_MS a read the route has not
 *   answered in SUSPECT_HEDGE_MS is also tried on the nodes;
 * - with no node answering either, it is retried (8 times over ~20 s) on both.
 * Writes and transactions are retried only when they did nothing (refused as read-only, or no connection was made:
 * see NOTHING_DONE_RETRY_MS), never after a connection lost under a statement: they may have committed before the
 * connection broke. After a write of a request (readScope.wrote set), the primary's WAL position is read once and handed to the request, so
 * its client's later reads know what a standby must have replayed.
 */
function routeQueries(pool: pg.Pool, kind: 'rw' | 'ro', route: RouteState, direct: DirectNodes, writeClient: () => Promise<pg.PoolClient>): void {
  const orig = pool.query.bind(pool) as (...a: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: (...a: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const first = args[0] as string | { text?: string } | undefined;
    const sql = typeof first === 'string' ? first : first?.text;
    if (args.some((a) => typeof a === 'function') || !sql) return orig(...args);
    const scope = readScope.getStore();
    if (!READ_ONLY.test(sql)) {
      if (kind !== 'rw') return orig(...args);
      return whileNothingDone(async () => {
        const client = await writeClient();
        const query = client.query.bind(client) as (...a: unknown[]) => Promise<unknown>;
        try {
          const r = await query(...args);
          if (scope?.wrote) await noteWrite(query, scope);
          return r;
        } catch (err) {
          if (isFailoverError(err)) route.failed();
          throw err;
        } finally {
          client.release();
        }
      });
    }
    const minLsn = kind === 'rw' ? scope?.minLsn : undefined;
    const viaNodes = async () => {
      const { result, stale } = await direct.read(args, minLsn);
      if (stale) scope?.stale?.();
      return result;
    };
    return (async () => {
      for (let attempt = 0; ; attempt++) {
        let err: unknown;
        const now = Date.now();
        if (direct.size && route.avoid(now)) {
          try {
            return await viaNodes();
          } catch (e) {
            if (!routeFailure(e)) throw e;
          }
        }
        try {
          const p = orig(...args);
          if (!direct.size) return await p;
          const suspect = route.suspectUntil > now;
          if (suspect) {
            // suspect route: this read is its probe; it does not wait on the route longer than SUSPECT_HEDGE_MS (a
            // SELECT left running does no harm), and an answer makes the route healthy again
            route.probing = true;
            p.then(
              () => {
                route.probing = false;
                route.suspectUntil = 0;
              },
              () => {
                route.probing = false;
              },
            );
          }
          if (await settlesWithin(p, suspect ? SUSPECT_HEDGE_MS : READ_POOL_PATIENCE_MS)) return await p;
          try {
            return await viaNodes();
          } catch {
            return await p;
          }
        } catch (e) {
          if (!routeFailure(e)) throw e;
          err = e;
          route.failed();
        }
        if (direct.size) {
          try {
            return await viaNodes();
          } catch (e) {
            if (!routeFailure(e)) throw e;
          }
        }
        if (attempt >= READ_RETRY_DELAYS_MS.length) throw err;
        await sleep(READ_RETRY_DELAYS_MS[attempt]);
      }
    })();
  };
}

/**
 * A connection for a write. Normally Pgpool's (the primary's route). While that route is suspect (it lost a
 * connection in the last SUSPECT_MS: a failover), Pgpool may hold new sessions for its whole primary search
 * (search_primary_node_timeout, 20 s) or not know the promoted node yet, so the write also looks for the primary on
 * the nodes (DirectNodes.primary: a majority answers and exactly one is primary) and takes whichever connection
 * comes first; the other is released when it arrives. A route that is not suspect gets WRITE_POOL_PATIENCE_MS before
 * the nodes are asked (the same race, later). Without a primary on the nodes it waits for Pgpool as before,
 * and when Pgpool refuses, the write fails (503 + Retry-After) instead of waiting longer.
 */
async function connectForWrite(rw: pg.Pool, route: RouteState, direct: DirectNodes): Promise<pg.PoolClient> {
  if (!direct.size) return rw.connect();
  const headStart = route.suspectUntil > Date.now() ? WRITE_POOL_HEAD_START_MS : WRITE_POOL_PATIENCE_MS;
  let poolSettled = false;
  let poolOk = false;
  let won = false;
  const viaPool = rw.connect();
  viaPool.then(
    () => (poolSettled = poolOk = true),
    () => (poolSettled = true),
  );
  const viaNodes = (async () => {
    // Pgpool first: an idle pooled connection answers at once; the nodes are asked only when it does not
    await Promise.race([viaPool.catch(() => undefined), sleep(headStart)]);
    if (poolOk) throw new Error('Pgpool answered');
    for (;;) {
      const primary = await direct.primary().catch(() => undefined);
      if (primary && !won) {
        // a node pool busy with the reads that also go to the nodes now (5 sessions, 2 s to get one) is asked again
        // while Pgpool has not answered; a connection that was never made sent nothing
        const client = await primary.connect().catch(() => undefined);
        if (client) return client;
      }
      if (poolSettled || won) throw new Error('no primary on the nodes');
      await sleep(300);
    }
  })();
  try {
    const client = await Promise.any([viaPool, viaNodes]);
    won = true;
    for (const p of [viaPool, viaNodes])
      p.then(
        (other) => other !== client && other.release(),
        () => undefined,
      );
    return client;
  } catch (err) {
    throw (err as AggregateError).errors?.[0] ?? err;
  }
}

/** The primary's WAL position once this request's write committed: its client's reads wait for it on a standby. */
async function noteWrite(query: (...a: unknown[]) => Promise<unknown>, scope: ReadScope): Promise<void> {
  try {
    // bounded: the write is committed; its acknowledgement must not wait on a primary that died just after it
    const q = query('SELECT pg_current_wal_insert_lsn()::text AS l') as Promise<{ rows: { l: string }[] }>;
    q.catch(() => undefined);
    const r = await Promise.race([q, sleep(500).then(() => Promise.reject(new Error('no LSN in time')))]);
    scope.wrote?.(r.rows[0].l);
  } catch {
    // the write committed; without its LSN the client's next reads may come from a standby without waiting
  }
}

/**
 * Pgpool's backends: the nodes DirectNodes connects to. Throws on plain PostgreSQL. `SHOW POOL_BACKEND_STATS`, not
 * `SHOW POOL_NODES`: pgpool answers it from its shared memory, where POOL_NODES connects to every backend twice (its
 * pg_status and pg_role columns), 6 backend forks per call from each api and worker task every 30 s.
 */
export async function poolNodes(pool: pg.Pool): Promise<{ host: string; port: number }[]> {
  const { rows } = await pool.query<{ hostname: string; port: string }>('SHOW POOL_BACKEND_STATS');
  return rows.map((r) => ({ host: r.hostname, port: Number(r.port) }));
}

/**
 * Parameterised statements are sent as NAMED prepared statements, one per distinct SQL text and connection: the
 * first use on a connection parses it, later uses only bind and execute, and after five executions PostgreSQL may
 * keep a generic plan instead of planning again. Unnamed, every call was parsed AND planned: on the primary, at
 * 3,000 users, planning (the Bind phase of unnamed statements) took 5.5 s and parsing 0.95 s of every 10 s,
 * against 3.9 s of execution (the statement log, BENCHMARKS.md). Our SQL texts are fixed templates (ids and
 * values always travel as parameters), so the set is small; a connection stops naming new texts after
 * MAX_NAMED_PER_CONNECTION all the same, so a text built from data could never pile up statements.
 * Statements without parameters (BEGIN, COMMIT, SELECT 1) stay simple-protocol queries.
 */
const MAX_NAMED_PER_CONNECTION = 256;
const statementNames = new Map<string, string>();
export function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `f_${createHash('sha1').update(text).digest('base64url').slice(0, 22)}`;
    if (statementNames.size < 4 * MAX_NAMED_PER_CONNECTION) statementNames.set(text, name);
  }
  return name;
}

/** Rewrites the arguments of client.query(...) so a parameterised statement goes out named (see above). */
export function nameStatement(args: unknown[], named: Set<string>): unknown[] {
  const [q, values] = args;
  const own = q as { text?: unknown; name?: unknown; values?: unknown } | null;
  const config =
    typeof q === 'string' ? { text: q } : own && typeof own === 'object' && typeof own.text === 'string' && !own.name ? { ...own, text: own.text } : undefined;
  const params = Array.isArray(config?.values) ? config.values : values;
  if (!config || !Array.isArray(params) || params.length === 0) return args;
  const name = statementName(config.text);
  if (!named.has(name)) {
    if (named.size >= MAX_NAMED_PER_CONNECTION) return args;
    named.add(name);
  }
  return [{ ...config, name }, ...args.slice(1)];
}

export type DbConfig = Pick<
  Config,
  'PGHOST' | 'PGPORT' | 'PGDATABASE' | 'PGUSER' | 'PGPASSWORD' | 'PG_POOL_MAX' | 'PG_APP_NAME_PRIMARY' | 'PG_APP_NAME_REPLICA' | 'PG_STATEMENT_TIMEOUT_MS'
> &
  Partial<Pick<Config, 'PG_NODES' | 'PG_STANDBY_WAIT_MS' | 'PG_DNS_FOLLOW_MS'>>;

/** "pg-0,pg-1:5433" -> hosts (default port PGPORT). */
export function parseNodes(v: string, port: number): { host: string; port: number }[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const i = s.lastIndexOf(':');
      return i > 0 ? { host: s.slice(0, i), port: Number(s.slice(i + 1)) || port } : { host: s, port };
    });
}

export function createDb(cfg: DbConfig): Db {
  const stats = { queries: 0 };
  const base = {
    host: cfg.PGHOST,
    port: cfg.PGPORT,
    database: cfg.PGDATABASE,
    user: cfg.PGUSER,
    password: cfg.PGPASSWORD,
    max: cfg.PG_POOL_MAX,
    // every new connection is expensive here: pgpool forks/assigns a child that opens one SCRAM-authenticated
    // session per backend (3). With 30 s, pg-pool's LIFO idle list closed the rarely used clients every 30 s and
    // the next burst re-created them: periodic 30 s stalls in the 1,500-user load test (BENCHMARKS.md). 5 min.
    idleTimeoutMillis: 300_000,
    // with the stack's sysctls (tcp_keepalive_time 2 s, 3 probes 1 s apart) an idle connection to a killed
    // pgpool task errors within ~5 s and leaves the pool, instead of hanging the next request that takes it
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
    statement_timeout: cfg.PG_STATEMENT_TIMEOUT_MS,
  };
  const onConnect = (client: pg.PoolClient) => {
    // a checked-out client whose server goes away (failover, a cut route) emits 'error' besides failing its query;
    // unheard, that event would end the process. Its next query fails as a connection loss and is handled there.
    client.on('error', () => undefined);
    const orig = client.query.bind(client) as (...a: unknown[]) => unknown;
    const named = new Set<string>(); // this connection's prepared statements (a new connection starts empty)
    (client as unknown as { query: (...a: unknown[]) => unknown }).query = (...args: unknown[]) => {
      if (!readScope.getStore()?.internal) stats.queries++;
      return orig(...nameStatement(args, named));
    };
  };
  const rw = new pg.Pool({ ...base, application_name: cfg.PG_APP_NAME_PRIMARY });
  const ro = new pg.Pool({ ...base, application_name: cfg.PG_APP_NAME_REPLICA });
  const direct = new DirectNodes({ ...base, application_name: `${cfg.PG_APP_NAME_REPLICA}-direct` }, cfg.PG_STANDBY_WAIT_MS ?? 1000, onConnect);
  const routes = { rw: new RouteState(), ro: new RouteState() };
  // rw's hook is installed first so noteWrite's own query goes out unrouted
  const writeClient = () =>
    connectForWrite(rw, routes.rw, direct).catch((err: unknown) => {
      if (typeof err === 'object' && err !== null) unsent.add(err);
      throw err;
    });
  routeQueries(rw, 'rw', routes.rw, direct, writeClient);
  routeQueries(ro, 'ro', routes.ro, direct, writeClient);
  for (const pool of [rw, ro]) {
    // an idle client losing its server (failover) must not crash the process
    pool.on('error', () => undefined);
    pool.on('connect', onConnect);
  }
  const unfollow = followHostAddresses([rw, ro], cfg.PGHOST, cfg.PG_DNS_FOLLOW_MS ?? 1000);
  // The nodes: PG_NODES, else Pgpool's own list (SHOW POOL_BACKEND_STATS), refreshed every 30 s while Pgpool answers, so
  // the stack needs no second list to keep in step. On plain PostgreSQL (tests, dev) SHOW fails: no direct reads.
  let discovery: NodeJS.Timeout | undefined;
  if (cfg.PG_NODES) direct.setHosts(parseNodes(cfg.PG_NODES, cfg.PGPORT));
  else {
    const discover = () =>
      poolNodes(rw).then(
        (nodes) => direct.setHosts(nodes),
        () => undefined,
      );
    void discover();
    discovery = setInterval(discover, 30_000);
    discovery.unref();
  }
  /**
   * A connection with an open transaction. A BEGIN that fails on a lost connection has done nothing, so it is the one
   * statement sent again (on a new connection, up to BEGIN_ATTEMPTS times): Pgpool ends its pooled sessions at every
   * failover AND failback (a standby re-attached by auto_failback, ~20 s after a primary failover, when the old
   * primary rejoins), and the first statement on such a session fails. Without this, that second event failed a
   * write long after the failover itself (CI drill: one 503 at 23.8 s, RTO 23.9 s).
   */
  const beginTx = async (): Promise<pg.PoolClient> => {
    for (let attempt = 1; ; attempt++) {
      const client = await writeClient();
      try {
        await client.query('BEGIN');
        return client;
      } catch (err) {
        const lost = routeFailure(err);
        client.release(lost ? (err as Error) : undefined); // a lost connection is destroyed, not pooled again
        if (!lost) throw err;
        routes.rw.failed();
        if (attempt >= BEGIN_ATTEMPTS) throw err;
      }
    }
  };
  return {
    rw,
    ro,
    direct,
    primaryDown: () => routes.rw.downUntil > Date.now(),
    stats,
    // A transaction refused as read-only (25006, see NOTHING_DONE_RETRY_MS) is rolled back and run again from its
    // start: the refusal comes at its first write, so it changed nothing; one that got no connection sent nothing.
    // The price: `fn` must not act outside the database before its first write (none does).
    tx(fn) {
      return whileNothingDone(async () => {
        const client = await beginTx();
        try {
          const result = await fn(client);
          await client.query('COMMIT');
          const scope = readScope.getStore();
          if (scope?.wrote) await noteWrite(client.query.bind(client) as (...a: unknown[]) => Promise<unknown>, scope);
          return result;
        } catch (err) {
          if (isFailoverError(err)) routes.rw.failed();
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          client.release();
        }
      });
    },
    async close() {
      if (discovery) clearInterval(discovery);
      unfollow();
      await Promise.allSettled([rw.end(), ro.end(), direct.close()]);
    },
  };
}
