import { env, loadConfigOrExit, z } from '@forum/shared';

export const shape = {
  PORT: env.int(8080),
  LOG_LEVEL: z.string().default('info'),
  PGHOST: env.list('pg-0,pg-1,pg-2'),
  PGPORT: env.int(5432),
  PGDATABASE: z.string().default('forum'),
  PGUSER: z.string().default('forum'),
  PGPASSWORD: z.string().min(1, 'PGPASSWORD_FILE (secret pg_app_password) is required'),
  BACKUP_DIR: z.string().default('/backups'),
  BACKUP_SCHEDULE: z.string().default('0 2 * * *'),
  BACKUP_TZ: z.string().default('UTC'),
  BACKUP_RETENTION_DAYS: env.int(14),
  BACKUP_KEEP_MIN: env.int(3),
  PG_BIN_DIR: z.string().optional(),
};

export function loadBackupConfig() {
  return loadConfigOrExit(shape, { secrets: ['PGPASSWORD'] });
}
export type BackupConfig = ReturnType<typeof loadBackupConfig>;
