import type { Logger } from '@forum/shared';
import type { Config } from './config.js';
import type { Db } from './db.js';
import { migrate } from './migrations.js';
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
  if (cfg.RUN_MIGRATIONS) await retryUntil('migrations', () => migrate(db.rw, logger), logger);
  if (cfg.ADMIN_PASSWORD) {
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
