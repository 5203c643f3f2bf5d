import { env, loadConfigOrExit, z } from '@forum/shared';

/** Every variable the api and the worker read. Secrets may come as `<NAME>_FILE` (Docker secrets). */
export const configShape = {
  PORT: env.int(8000),
  METRICS_PORT: env.int(9464),
  /**
   * On SIGTERM, how long the api keeps accepting (each response with `Connection: close`) before it stops listening:
   * NGINX learns that the task left DNS through nginx-agent's 2 s poll and a reload (shared/shutdown.ts,
   * deregisterMs): after that, a new connection is refused and NGINX passes the request on (not yet sent, so even a
   * POST), and no idle connection is left to cut, since each response during the window closed its own. Every stop
   * takes this much longer (the 8 s exit bound includes it); the shutdown deadline (20 s) too.
   */
  SHUTDOWN_DEREGISTER_MS: env.int(3000).pipe(z.number().min(0).max(15_000)),
  PGHOST: z.string().min(1),
  PGPORT: env.int(5432),
  PGDATABASE: z.string().min(1).default('forum'),
  PGUSER: z.string().min(1).default('forum'),
  PGPASSWORD: z.string().optional(),
  /**
   * The role that owns the schema and runs the migrations (one connection, closed after them). Without its password
   * the migrations run as PGUSER, which must then own the schema (a local database without the stack's roles).
   */
  PG_MIGRATOR_USER: z.string().min(1).default('forum_migrator'),
  PG_MIGRATOR_PASSWORD: z.string().optional(),
  PG_POOL_MAX: env.int(10),
  /** pgpool's app_name_redirect_preference_list keys on these (see docs/API-DECISIONS.md). */
  PG_APP_NAME_PRIMARY: z.string().min(1).default('forum-api-rw'),
  PG_APP_NAME_REPLICA: z.string().min(1).default('forum-api-ro'),
  PG_STATEMENT_TIMEOUT_MS: env.int(15000),
  /**
   * The PostgreSQL nodes read directly while Pgpool has no primary ("pg-0,pg-1,pg-2", host[:port]); empty = ask
   * Pgpool (`SHOW POOL_BACKEND_STATS`). See docs/DATA-TIER.md "During a failover".
   */
  PG_NODES: z.string().default(''),
  /** How long a read on a standby waits for the client's last write to be replayed before it is served stale (X-Stale). */
  PG_STANDBY_WAIT_MS: env.int(1000),
  /** How often the pools look up PGHOST and close their sessions to addresses it no longer has (dns-follow.ts); 0 = never. */
  PG_DNS_FOLLOW_MS: env.int(1000),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL'),
  /** the Redis ACL user (the stack's `app`); unset = the default user */
  REDIS_USER: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
  SESSION_SECRET: z.string().min(16, 'SESSION_SECRET must be at least 16 characters'),
  ADMIN_USERNAME: z.string().min(3).max(14).default('admin'),
  ADMIN_EMAIL: z.string().email().default('admin@forum.local'),
  ADMIN_PASSWORD: z.string().optional(),
  TRUST_PROXY: z.string().default('loopback, uniquelocal'),
  RUN_MIGRATIONS: env.bool(true),
  /**
   * Start-up (migrations, the admin account) that has not finished by then ends the process (exit 1) and Swarm starts
   * the task again 5 s later. Without it a start-up stuck on a session whose peer died waits for Docker's healthcheck
   * (start_period 180 s + 3 x 30 s). Longer than the migrations' own retries (120 s), which end in an exit too.
   */
  STARTUP_DEADLINE_MS: env.int(150_000).pipe(z.number().min(1000)),
  /** One post per user per this interval (Misago's flood protection). */
  FLOOD_INTERVAL_MS: env.int(3000),
  /**
   * Login attempts at ONE account (username or e-mail, from any addresses) whose password is checked per window;
   * more answer 429 too_many_account_login_attempts (login-guard.ts). The per-address limit is the brute-force rule
   * (configs/alerts/sla-rules.yml, 8 in 30 s). Higher = more guesses at one account from many addresses; lower =
   * an attacker locks a user out with fewer requests.
   */
  LOGIN_ACCOUNT_MAX_ATTEMPTS: env.int(20),
  LOGIN_ACCOUNT_WINDOW_SECONDS: env.int(600),
  /**
   * argon2 hashes/verifications at once per task, and how many may wait; one more answers 503 password_work_busy +
   * Retry-After 1 (passwords.ts, WorkGate: why).
   */
  ARGON2_CONCURRENCY: z.coerce.number().int().min(1).default(2),
  ARGON2_QUEUE: z.coerce.number().int().min(0).default(64),
  /** A job unacknowledged this long (its worker died) is claimed by another worker. */
  JOB_CLAIM_IDLE_MS: env.int(30000),
  JOB_MAX_ATTEMPTS: env.int(5),
  /** The worker re-enqueues posts whose job never completed (lost in a Redis failover) after this age. */
  JOB_SWEEP_AGE_MS: env.int(60000),
  SECURE_COOKIES: env.bool(false),
  /** A session looked up in Redis/PostgreSQL is trusted in-process this long (the bound if every revocation signal failed). */
  SESSION_CACHE_MS: env.int(1500),
  /** A session lookup Redis has not answered in this time is answered by PostgreSQL. */
  SESSION_REDIS_TIMEOUT_MS: env.int(300),
  /** Every api task reads the sessions revoked in PostgreSQL this often. */
  SESSION_REVOCATION_POLL_MS: env.int(500),
  /**
   * Guests' thread pages and lists are cached per process at most this long (0 disables). Writes invalidate them on
   * every replica through Redis pub/sub at once; this only bounds what could escape that (docs/API-DECISIONS.md).
   * 60 s, not 10 s: guests' reads spread over thousands of threads, and 10 s kept few pages long enough to be hit.
   */
  ANON_CACHE_MS: env.int(60000),
  /** Test-only fault injection for the worker: "before_commit" | "after_commit" pauses a job there. */
  WORKER_FAULT: z.enum(['', 'before_commit', 'after_commit']).default(''),
};

export const secretKeys = ['PGPASSWORD', 'PG_MIGRATOR_PASSWORD', 'REDIS_PASSWORD', 'SESSION_SECRET', 'ADMIN_PASSWORD'] as (keyof typeof configShape)[];

export type Config = z.infer<z.ZodObject<typeof configShape>>;

export function loadServiceConfig(role: 'api' | 'worker' = 'api'): Config {
  // the worker keeps no sessions: it needs no SESSION_SECRET
  const shape = role === 'worker' ? { ...configShape, SESSION_SECRET: z.string().default('') } : configShape;
  return loadConfigOrExit(shape, { secrets: secretKeys as never }) as Config;
}
