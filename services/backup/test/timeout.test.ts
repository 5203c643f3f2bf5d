/**
 * A hung pg_dump: a real PostgreSQL (the host's, @forum/test-support startPostgres) where another session holds an
 * ACCESS EXCLUSIVE lock on a table, so pg_dump waits for its ACCESS SHARE lock forever. The attempt is killed at its
 * deadline; the scheduler (services/backup main.ts as a process) logs and counts it and runs its next backup.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createLogger } from '@forum/shared';
import { postgresBin, promSample, startPostgres, tempDir, waitFor, type PgServer } from '@forum/test-support';
import { BackupTimeoutError, runBackup, type PgTarget } from '../src/backup.js';
import { REPO_ROOT, startNodeService, type Proc } from '../../autoscaler/test/helpers.js';

const logger = createLogger('backup-timeout-test', { level: 'silent' });
const tmp = tempDir('backup-timeout-');
let server: PgServer;
let target: PgTarget;
const procs: Proc[] = [];

const connect = async (database = 'forum') => {
  const c = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database });
  await c.connect();
  return c;
};

/** A session holding ACCESS EXCLUSIVE on posts until release(). */
async function lockPosts(): Promise<{ release: () => Promise<void> }> {
  const c = await connect();
  await c.query('begin; lock table posts in access exclusive mode');
  return {
    release: async () => {
      await c.query('commit');
      await c.end();
    },
  };
}

/** Processes whose command line names `path` (pg_dump's -f argument is inside the backup dir). */
function processesUsing(path: string): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
        return cmd.includes(path) ? [`${pid}: ${cmd}`] : [];
      } catch {
        return [];
      }
    });
}

async function pgDumpSessions(): Promise<number> {
  const c = await connect('postgres');
  try {
    return (await c.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = 'pg_dump'")).rows[0].n;
  } finally {
    await c.end();
  }
}

before(async () => {
  server = await startPostgres({ prefix: 'backup-timeout-pg-' });
  const c = await connect('postgres');
  await c.query('create database forum');
  await c.end();
  const f = await connect();
  await f.query("create table posts(id serial primary key, body text); insert into posts(body) select 'p' || g from generate_series(1, 100) g");
  await f.end();
  target = { hosts: ['127.0.0.1'], port: server.port, user: 'postgres', password: 'unused', database: 'forum' };
});

after(async () => {
  for (const p of procs) await p.kill();
  await server?.stop();
  tmp.remove();
});

describe('backup timeout', () => {
  test('When pg_dump waits on a lock past the timeout, then it is killed and the attempt fails with a timeout error', async () => {
    const dir = join(tmp.dir, 'direct');
    const lock = await lockPosts();
    try {
      const t0 = Date.now();
      await assert.rejects(runBackup({ target, dir, pgBinDir: postgresBin(), logger, timeoutMs: 2000 }), (err: Error) => {
        assert.ok(err instanceof BackupTimeoutError, String(err));
        assert.match(err.message, /did not finish within 2 s \(BACKUP_TIMEOUT_SECONDS\): pg_dump killed/);
        return true;
      });
      assert.ok(Date.now() - t0 < 12_000, `returned after ${Date.now() - t0} ms`);
      assert.deepEqual(processesUsing(dir), [], 'no pg_dump left running');
      await waitFor('the server has no pg_dump session left', async () => (await pgDumpSessions()) === 0, 10_000);
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.includes('.dump')),
        [],
        'no partial dump left behind',
      );
    } finally {
      await lock.release();
    }
  });

  test('When a scheduled backup hangs, then the scheduler logs and counts the timeout and its next scheduled backup succeeds', async () => {
    const dir = join(tmp.dir, 'scheduled');
    const lock = await lockPosts();
    let released = false;
    try {
      const p = await startNodeService(join(REPO_ROOT, 'services', 'backup', 'src', 'main.ts'), {
        PGHOST: '127.0.0.1',
        PGPORT: String(server.port),
        PGUSER: 'postgres',
        PGPASSWORD: 'unused',
        PGDATABASE: 'forum',
        PG_BIN_DIR: postgresBin(),
        BACKUP_DIR: dir,
        BACKUP_SCHEDULE: '*/2 * * * * *',
        BACKUP_TIMEOUT_SECONDS: '2',
      });
      procs.push(p);
      const metric = async (name: string, labels?: Record<string, string>) => promSample(await (await fetch(`${p.url}/metrics`)).text(), name, labels);
      await waitFor('a timed-out backup counted', async () => ((await metric('backup_failures_total', { reason: 'timeout' })) ?? 0) >= 1, 30_000, 200);
      const last = (await (await fetch(`${p.url}/v1/backups/last`)).json()) as { last: { ok: boolean; error?: string } };
      assert.equal(last.last.ok, false);
      assert.match(last.last.error ?? '', /did not finish within 2 s .*pg_dump killed/);
      const logged = p.logs().find((l) => l.msg === 'backup failed: timed out, pg_dump killed');
      assert.ok(logged, 'the failure is logged with its reason');
      assert.equal(logged.level, 'error', 'at level error (createLogger of @forum/shared writes level labels)');
      assert.equal(logged.timeoutSeconds, 2);
      assert.equal(await metric('backup_failures_total', { reason: 'error' }), 0);

      await lock.release();
      released = true;
      const ok = await waitFor(
        'the next scheduled backup succeeds',
        async () => {
          const r = (await (await fetch(`${p.url}/v1/backups/last`)).json()) as { last: { ok: boolean; file?: string } };
          return r.last.ok ? r.last : undefined;
        },
        30_000,
        200,
      );
      assert.ok(readdirSync(dir).includes(ok.file!), `${ok.file} written`);
      assert.ok(((await metric('backup_last_success_age_seconds')) ?? Infinity) < 60);
      await p.kill();
    } finally {
      if (!released) await lock.release();
    }
  });
});
