import { env, loadConfig, loadConfigOrExit, z } from '@forum/shared';
import { DEFAULT_BACKUP_TIMEOUT_MS, type PgTarget } from './backup.js';

/** Where the database is: what the scheduled backup and the restore command both need. */
export const connectionShape = {
  PGHOST: env.list('pg-0,pg-1,pg-2'),
  PGPORT: env.int(5432),
  PGDATABASE: z.string().default('forum'),
  PGUSER: z.string().default('forum'),
  PGPASSWORD: z.string().min(1, 'PGPASSWORD_FILE is required (the backup service: secret pg_app_password)'),
  PG_BIN_DIR: z.string().optional(),
};

export const configShape = {
  ...connectionShape,
  PORT: env.int(8080),
  LOG_LEVEL: z.string().default('info'),
  BACKUP_DIR: z.string().default('/backups'),
  BACKUP_SCHEDULE: z.string().default('0 2 * * *'),
  BACKUP_TZ: z.string().default('UTC'),
  BACKUP_RETENTION_DAYS: env.int(14),
  BACKUP_KEEP_MIN: env.int(3),
  /** a backup attempt running longer is killed and counted as a failure (default 30 min) */
  BACKUP_TIMEOUT_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(DEFAULT_BACKUP_TIMEOUT_MS / 1000),
};

/** The scheduled backup service: every problem printed, exit 1. */
export function loadBackupConfig(envVars: NodeJS.ProcessEnv = process.env) {
  return loadConfigOrExit(configShape, { secrets: ['PGPASSWORD'], env: envVars });
}
export type BackupConfig = ReturnType<typeof loadBackupConfig>;

/** The restore command: throws a ConfigError listing every problem. */
export function loadRestoreConfig(envVars: NodeJS.ProcessEnv = process.env) {
  return loadConfig(connectionShape, { secrets: ['PGPASSWORD'], env: envVars });
}

export const pgTarget = (cfg: ReturnType<typeof loadRestoreConfig>): PgTarget => ({
  hosts: cfg.PGHOST,
  port: cfg.PGPORT,
  user: cfg.PGUSER,
  password: cfg.PGPASSWORD,
  database: cfg.PGDATABASE,
});
