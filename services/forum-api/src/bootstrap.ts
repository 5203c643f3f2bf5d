import pg from 'pg';
import { withTimeout, type Logger } from '@forum/shared';
import type { Config } from './config.js';
import type { Db } from './db.js';
import { migrate, MIGRATIONS_LOCK_KEY } from './migrations.js';
import { hashPassword } from './passwords.js';
import { slugify } from './forum-rules.js';

/** Retries `fn` until it succeeds or `deadlineMs` passes (the database may start after us). */
export async function retryUntil<T>(what: string, fn: () => Promise<T>, logger: Logger, deadlineMs = 60_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      logger.warn({ attempt, err: (err as Error).message }, `${what} failed; retrying`);
      await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 3000)));
    }
  }
}

/** Migrations (advisory-locked) and the admin account from ADMIN_* (created once; never overwritten). */
export async function bootstrap(cfg: Config, db: Db, logger: Logger): Promise<void> {
  // each step says when it begins: a start-up that hangs (a lock held elsewhere, a dead peer) names where it stopped
  // before STARTUP_DEADLINE_MS ends it
  if (cfg.RUN_MIGRATIONS) {
    logger.info({ lockKey: MIGRATIONS_LOCK_KEY }, 'start-up: migrations (under an advisory lock: another task running them makes this one wait)');
    if (cfg.PG_MIGRATOR_PASSWORD) {
      // the schema's owner, on a pool of one that lives only for the migrations; the service's own pools log in as
      // PGUSER, which has row rights only (images/postgres/entrypoint.sh ensure_roles)
      const owner = new pg.Pool({
        host: cfg.PGHOST,
        port: cfg.PGPORT,
        database: cfg.PGDATABASE,
        user: cfg.PG_MIGRATOR_USER,
        password: cfg.PG_MIGRATOR_PASSWORD,
        max: 1,
        application_name: cfg.PG_APP_NAME_PRIMARY,
        connectionTimeoutMillis: 10_000,
        // a session whose peer died (a Pgpool task on a lost node) fails in seconds under the stack's keepalive
        // sysctls instead of holding the start-up forever; no statement timeout: a long migration may take its time
        keepAlive: true,
      });
      owner.on('error', () => undefined);
      try {
        await retryUntil('migrations', () => migrate(owner, logger), logger, 120_000);
      } finally {
        await owner.end().catch(() => undefined);
      }
    } else {
      await retryUntil('migrations', () => migrate(db.rw, logger), logger);
    }
  }
  if (cfg.ADMIN_PASSWORD) {
    logger.info('start-up: admin account');
    const hash = await hashPassword(cfg.ADMIN_PASSWORD);
    const { rowCount } = await retryUntil(
      'admin bootstrap',
      () =>
        db.rw.query(`INSERT INTO users (username, slug, email, password_hash, is_staff) VALUES ($1, $2, $3, $4, true) ON CONFLICT DO NOTHING`, [
          cfg.ADMIN_USERNAME,
          slugify(cfg.ADMIN_USERNAME, 'admin'),
          cfg.ADMIN_EMAIL,
          hash,
        ]),
      logger,
    );
    if (rowCount) logger.info({ username: cfg.ADMIN_USERNAME }, 'admin user created');
  }
}

/** {@link bootstrap}, or an error once `deadlineMs` has passed (the work may still be hanging: callers exit). */
export function bootstrapWithin(cfg: Config, db: Db, logger: Logger, deadlineMs: number): Promise<void> {
  return withTimeout(bootstrap(cfg, db, logger), deadlineMs, 'start-up (STARTUP_DEADLINE_MS)');
}
