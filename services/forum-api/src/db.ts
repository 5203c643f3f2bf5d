import { createHash } from 'node:crypto';
import pg from 'pg';
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
  /** Statements sent so far (tests assert "one query per list page" with it). */
  stats: { queries: number };
  /** Runs fn in a transaction on the primary pool. */
  tx<T>(fn: (c: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A statement that only reads: safe to send again when its connection broke before an answer came. */
const READ_ONLY = /^\s*select\b(?![\s\S]*\b(for\s+(update|share|no\s+key\s+update|key\s+share)|nextval|setval|pg_advisory)\b)/i;
/** Connection-class failures: the statement may not have run (pgpool restarts every child on a primary failover). */
export function isConnectionLoss(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && /^(08|57P0[123])/.test(e.code)) return true;
  // the rest are pgpool's own: refusals while it fails a backend over, and (XX000, FATAL) "unable to read data from DB
  // node N" / "EOF encountered with backend" when a backend died under a statement (seen at a PG primary kill under
  // load, issue 8's fault run: it had become a 500)
  return /Connection terminated|ECONNRESET|ECONNREFUSED|EPIPE|Client has encountered a connection error|server closed the connection|failed to create a backend connection|not accepting any new connections|executing failover|unable to read data from DB node|EOF encountered with backend/i.test(
    String(e?.message ?? ''),
  );
}
// ~20 s in all: a PostgreSQL failover (repmgrd promotion + pgpool's failover, during which pgpool refuses sessions)
// takes 5-10 s on a quiet machine; under load on a slower one, requests waited 10-13 s (p95 of the 5-s intervals after
// the kill in issue 8's fault run, fifth session), longer than the 9 s reads used to retry. A read that waits ~20 s is
// still inside the SLA (GET p95 < 40 s), an error is not
const READ_RETRY_DELAYS_MS = [200, 400, 800, 1500, 2500, 3500, 5000, 6000];

/**
 * pool.query() of a plain SELECT is retried (8 times over ~20 s) when the connection broke: a PostgreSQL
 * failover makes pgpool drop every session, and without this each read in flight at that moment is an error for
 * the user (the drills require < 1 % failed reads during a failover). Writes and transactions are never retried
 * here: they may have committed before the connection broke.
 */
function retryReads(pool: pg.Pool): void {
  const orig = pool.query.bind(pool) as (...a: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: (...a: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const first = args[0] as string | { text?: string } | undefined;
    const sql = typeof first === 'string' ? first : first?.text;
    if (args.some((a) => typeof a === 'function') || !sql || !READ_ONLY.test(sql)) return orig(...args);
    return (async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await orig(...args);
        } catch (err) {
          if (attempt >= READ_RETRY_DELAYS_MS.length || !isConnectionLoss(err)) throw err;
          await new Promise((r) => setTimeout(r, READ_RETRY_DELAYS_MS[attempt]));
        }
      }
    })();
  };
}

/**
 * Parameterised statements are sent as NAMED prepared statements, one per distinct SQL text and connection: the
 * first use on a connection parses it, later uses only bind and execute, and after five executions PostgreSQL may
 * keep a generic plan instead of planning again. Unnamed, every call was parsed AND planned: on the primary, at
 * 3,000 users, planning (the Bind phase of unnamed statements) took 5.5 s and parsing 0.95 s of every 10 s,
 * against 3.9 s of execution (issue 8's statement log, BENCHMARKS.md). Our SQL texts are fixed templates (ids and
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

export function createDb(cfg: Pick<Config, 'PGHOST' | 'PGPORT' | 'PGDATABASE' | 'PGUSER' | 'PGPASSWORD' | 'PG_POOL_MAX' | 'PG_APP_NAME_PRIMARY' | 'PG_APP_NAME_REPLICA' | 'PG_STATEMENT_TIMEOUT_MS'>): Db {
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
  const rw = new pg.Pool({ ...base, application_name: cfg.PG_APP_NAME_PRIMARY });
  const ro = new pg.Pool({ ...base, application_name: cfg.PG_APP_NAME_REPLICA });
  for (const pool of [rw, ro]) retryReads(pool);
  for (const pool of [rw, ro]) {
    // an idle client losing its server (failover) must not crash the process
    pool.on('error', () => undefined);
    pool.on('connect', (client) => {
      const orig = client.query.bind(client) as (...a: unknown[]) => unknown;
      const named = new Set<string>(); // this connection's prepared statements (a new connection starts empty)
      (client as unknown as { query: (...a: unknown[]) => unknown }).query = (...args: unknown[]) => {
        stats.queries++;
        return orig(...nameStatement(args, named));
      };
    });
  }
  return {
    rw,
    ro,
    stats,
    async tx(fn) {
      const client = await rw.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async close() {
      await Promise.allSettled([rw.end(), ro.end()]);
    },
  };
}
