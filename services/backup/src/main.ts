// Nightly backup job (SPEC §4): pg_dump of the current primary at BACKUP_SCHEDULE (default 02:00),
// retention by age (always keeping the newest BACKUP_KEEP_MIN). `node dist/main.js --once` runs one backup and exits.
import cron from 'node-cron';
import { createBaseApp, createLogger, installGracefulShutdown } from '@forum/shared';
import { applyRetention, runBackup, type PgTarget } from './backup.js';
import { loadBackupConfig } from './config.js';

const cfg = loadBackupConfig();
const logger = createLogger('backup', { level: cfg.LOG_LEVEL });
const target: PgTarget = { hosts: cfg.PGHOST, port: cfg.PGPORT, user: cfg.PGUSER, password: cfg.PGPASSWORD, database: cfg.PGDATABASE };

let last: { ok: boolean; at: string; file?: string; error?: string } | undefined;
let running = false;

async function backupOnce(): Promise<boolean> {
  if (running) {
    logger.warn('backup already running: skipped');
    return false;
  }
  running = true;
  try {
    const m = await runBackup({ target, dir: cfg.BACKUP_DIR, pgBinDir: cfg.PG_BIN_DIR, logger });
    await applyRetention(cfg.BACKUP_DIR, cfg.BACKUP_RETENTION_DAYS, cfg.BACKUP_KEEP_MIN, logger);
    last = { ok: true, at: m.finishedAt, file: m.file };
    return true;
  } catch (err) {
    last = { ok: false, at: new Date().toISOString(), error: (err as Error).message };
    logger.error({ err }, 'backup failed');
    return false;
  } finally {
    running = false;
  }
}

if (process.argv.includes('--once')) {
  process.exit((await backupOnce()) ? 0 : 1);
}

if (!cron.validate(cfg.BACKUP_SCHEDULE)) {
  logger.fatal({ schedule: cfg.BACKUP_SCHEDULE }, 'BACKUP_SCHEDULE is not a valid cron expression');
  process.exit(1);
}
const task = cron.schedule(cfg.BACKUP_SCHEDULE, () => void backupOnce(), { timezone: cfg.BACKUP_TZ });

let isDraining: () => boolean = () => false;
const { app, finish } = createBaseApp({ service: 'backup', logger, isDraining: () => isDraining() });
app.get('/v1/backups/last', (_req, res) => {
  res.json({ schedule: cfg.BACKUP_SCHEDULE, running, last: last ?? null });
});
finish(app);
const server = app.listen(cfg.PORT, () => logger.info({ port: cfg.PORT, schedule: cfg.BACKUP_SCHEDULE }, 'backup scheduler started'));
const sd = installGracefulShutdown([server], { logger, onClose: [() => task.stop()] });
isDraining = sd.isDraining;
