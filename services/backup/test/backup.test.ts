// Backup + restore against a real temporary PostgreSQL (Debian's postgresql-15 on the host, run as postgres).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, chownSync, rmSync, writeFileSync, readdirSync, utimesSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createLogger } from '@forum/shared';
import { applyRetention, restoreAndVerify, runBackup, type PgTarget } from '../src/backup.js';

const PG_BIN = process.env.TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const logger = createLogger('backup-test', { level: 'silent' });
let dir = '';
let port = 0;
const password = 'test-Pw-123';
const asPg = (cmd: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' });

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'backup-test-'));
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
  chownSync(dir, uid, gid);
  port = await freePort();
  writeFileSync(path.join(dir, 'pw'), password);
  chownSync(path.join(dir, 'pw'), uid, gid);
  asPg(path.join(PG_BIN, 'initdb'), ['-D', path.join(dir, 'data'), '-U', 'postgres', `--pwfile=${path.join(dir, 'pw')}`, '--auth=scram-sha-256', '-E', 'UTF8']);
  asPg(path.join(PG_BIN, 'pg_ctl'), [
    '-D',
    path.join(dir, 'data'),
    '-w',
    '-l',
    path.join(dir, 'log'),
    '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
    'start',
  ]);
});

after(() => {
  if (dir) spawnSync('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, 'pg_ctl'), '-D', path.join(dir, 'data'), '-m', 'immediate', 'stop']);
  if (dir) rmSync(dir, { recursive: true, force: true });
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

test('backup of the primary restores into a new database with equal row counts and checksums', async () => {
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

test('retention removes old dumps but keeps the newest ones', async () => {
  const d = path.join(dir, 'ret');
  execFileSync('mkdir', ['-p', d]);
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
