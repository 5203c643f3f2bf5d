#!/usr/bin/env node
// Restore command: rebuilds a database from a backup and verifies row counts + checksums against the
// backup's manifest. Exit 0 only when every table matches.
//   node services/backup/dist/restore.js <file.dump> [--database NAME] [--create]
// Connection: PGHOST (comma list; the primary is used), PGPORT, PGUSER, PGPASSWORD_FILE; PG_BIN_DIR optional.
// --create makes the database (needs CREATEDB; run as the superuser with PGUSER=postgres).
import pg from 'pg';
import { createLogger } from '@forum/shared';
import { findPrimary, restoreAndVerify } from './backup.js';
import { loadRestoreConfig, pgTarget } from './config.js';

const logger = createLogger('restore');
const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (!file) {
  process.stderr.write('usage: restore.js <file.dump> [--database NAME] [--create]\n');
  process.exit(2);
}
try {
  const cfg = loadRestoreConfig();
  const database = opt('--database') ?? `${cfg.PGDATABASE}_restore`;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database)) throw new Error(`--database ${database}: use lower-case letters, digits, _`);
  const target = pgTarget(cfg);
  if (args.includes('--create')) {
    const host = await findPrimary(target);
    const c = new pg.Client({ host, port: cfg.PGPORT, user: cfg.PGUSER, password: cfg.PGPASSWORD, database: 'postgres' });
    await c.connect();
    try {
      await c.query(`create database "${database}"`);
    } finally {
      await c.end();
    }
  }
  const r = await restoreAndVerify({ file, target, database, pgBinDir: cfg.PG_BIN_DIR, logger });
  process.stdout.write(`${JSON.stringify({ database, ...r })}\n`);
  process.exit(r.ok ? 0 : 1);
} catch (err) {
  logger.error({ err }, 'restore failed');
  process.exit(1);
}
