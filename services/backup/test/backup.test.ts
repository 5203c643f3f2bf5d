// Backup + restore against PostgreSQL 17, the version production runs: the server and its pg_dump / pg_restore come
// from the project's forum/postgres image (@forum/test-support startPostgresImage; docs/DATA-TIER.md "Backups").
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readdirSync, utimesSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createLogger } from '@forum/shared';
import { startPostgresImage, type PgImageServer } from '@forum/test-support';
import { applyRetention, restoreAndVerify, runBackup, type PgTarget } from '../src/backup.js';

const logger = createLogger('backup-test', { level: 'silent' });
const password = 'test-Pw-123';
let server: PgImageServer;
let dir = '';
let port = 0;
let PG_BIN = '';

before(async () => {
  server = await startPostgresImage({ password, prefix: 'backup-test-' });
  ({ dir, port, binDir: PG_BIN } = server);
});

after(async () => {
  await server?.stop();
});

const target = (database = 'forum'): PgTarget => ({ hosts: ['127.0.0.1'], port, user: 'postgres', password, database });
async function sql(database: string, q: string) {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database });
  await c.connect();
  try {
    return await c.query(q);
  } finally {
    await c.end();
  }
}

test('When the primary is backed up, then the dump restores into PostgreSQL 17 with equal row counts and checksums', async () => {
  await sql('postgres', 'create database forum');
  await sql(
    'forum',
    `create table users(id serial primary key, name text not null, created timestamptz default now());
    create table posts(id bigserial primary key, user_id int references users(id), body text, meta jsonb);
    insert into users(name) select 'user' || g from generate_series(1, 500) g;
    insert into posts(user_id, body, meta) select 1 + g % 500, repeat('x', g % 50), jsonb_build_object('g', g) from generate_series(1, 3000) g;`,
  );
  const backups = path.join(dir, 'backups');
  const m = await runBackup({ target: target(), dir: backups, pgBinDir: PG_BIN, logger });
  assert.equal(m.tables.find((t) => t.table === 'public.users')?.rows, 500);
  assert.equal(m.tables.find((t) => t.table === 'public.posts')?.rows, 3000);
  assert.ok(m.bytes > 0 && /^[0-9a-f]{64}$/.test(m.sha256));
  // writes after the backup are not in it
  await sql('forum', "insert into users(name) values ('late')");

  await sql('postgres', 'create database forum_restore');
  const r = await restoreAndVerify({ file: path.join(backups, m.file), target: target(), database: 'forum_restore', pgBinDir: PG_BIN, logger });
  assert.deepEqual(r.mismatches, []);
  assert.equal(r.ok, true);
  assert.equal(r.tables, 2);
  assert.ok(r.serverVersionNum >= 170000, `restored into server_version_num ${r.serverVersionNum}, production runs 17`);
  const n = await sql('forum_restore', 'select count(*)::int as n from users');
  assert.equal(n.rows[0].n, 500);

  // a restore that differs from the manifest is reported
  await sql('postgres', 'create database forum_bad');
  await sql('forum_bad', 'create table users(id int primary key)');
  await assert.rejects(
    restoreAndVerify({ file: path.join(backups, m.file), target: target(), database: 'forum_bad', pgBinDir: PG_BIN, logger }),
    /pg_restore exited/,
  );
  // a tampered dump file is refused before anything is restored
  writeFileSync(path.join(backups, m.file), 'garbage');
  await assert.rejects(restoreAndVerify({ file: path.join(backups, m.file), target: target(), database: 'forum_restore', pgBinDir: PG_BIN, logger }), /sha256/);
});

test('When dumps are older than the retention, then they are removed but the newest ones are kept', async () => {
  const d = path.join(dir, 'ret');
  mkdirSync(d, { recursive: true });
  const old = Date.now() / 1000 - 30 * 86400;
  for (const n of ['forum-2026-01-01.dump', 'forum-2026-01-02.dump', 'forum-2026-01-03.dump', 'forum-2026-01-04.dump']) {
    writeFileSync(path.join(d, n), 'x');
    writeFileSync(path.join(d, `${n}.json`), '{}');
    utimesSync(path.join(d, n), old, old);
  }
  writeFileSync(path.join(d, 'forum-2026-02-01.dump'), 'x');
  const removed = await applyRetention(d, 14, 2, logger);
  assert.deepEqual(removed, ['forum-2026-01-01.dump', 'forum-2026-01-02.dump', 'forum-2026-01-03.dump']);
  assert.deepEqual(readdirSync(d).sort(), ['forum-2026-01-04.dump', 'forum-2026-01-04.dump.json', 'forum-2026-02-01.dump']);
});
