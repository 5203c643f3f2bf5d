import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, unlink, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';

export interface PgTarget {
  /** one host or a comma list (pg-0,pg-1,pg-2): the backup runs against the current primary */
  hosts: string[];
  port: number;
  user: string;
  password: string;
  database: string;
}

export interface TableSum {
  table: string;
  rows: number;
  md5: string;
}

export interface Manifest {
  file: string;
  database: string;
  host: string;
  startedAt: string;
  finishedAt: string;
  bytes: number;
  sha256: string;
  tables: TableSum[];
}

const bin = (dir: string | undefined, name: string) => (dir ? path.join(dir, name) : name);

function client(t: PgTarget, host: string, database = t.database): pg.Client {
  return new pg.Client({ host, port: t.port, user: t.user, password: t.password, database, connectionTimeoutMillis: 3000 });
}

/** The first host that answers and is not in recovery (the primary). */
export async function findPrimary(t: PgTarget): Promise<string> {
  const problems: string[] = [];
  for (const host of t.hosts) {
    const c = client(t, host);
    try {
      await c.connect();
      const r = await c.query<{ r: boolean }>('select pg_is_in_recovery() as r');
      if (!r.rows[0].r) return host;
      problems.push(`${host}: standby`);
    } catch (err) {
      problems.push(`${host}: ${(err as Error).message}`);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
  throw new Error(`no primary among ${t.hosts.join(',')} (${problems.join('; ')})`);
}

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

/** Row count + order-independent checksum of every table in user schemas, seen by the client's snapshot. */
export async function tableSums(c: pg.Client): Promise<TableSum[]> {
  const tables = await c.query<{ s: string; t: string }>(
    `select table_schema as s, table_name as t from information_schema.tables
      where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog','information_schema')
      order by 1, 2`,
  );
  const out: TableSum[] = [];
  for (const { s, t } of tables.rows) {
    const r = await c.query<{ n: string; h: string | null }>(
      `select count(*)::bigint as n, md5(coalesce(string_agg(md5(x::text), '' order by md5(x::text)), '')) as h
         from ${quoteIdent(s)}.${quoteIdent(t)} x`,
    );
    out.push({ table: `${s}.${t}`, rows: Number(r.rows[0].n), md5: r.rows[0].h ?? '' });
  }
  return out;
}

/** Why an attempt was cut short: the reason of the AbortSignal that ended it. */
export class BackupTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`backup did not finish within ${Math.round(timeoutMs / 1000)} s (BACKUP_TIMEOUT_SECONDS): pg_dump killed`);
    this.name = 'BackupTimeoutError';
  }
}

/** Grace between SIGTERM (pg_dump then cancels its query on the server) and SIGKILL. */
const KILL_GRACE_MS = 5000;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      p.kill('SIGTERM');
      killTimer = setTimeout(() => p.kill('SIGKILL'), KILL_GRACE_MS);
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    p.on('error', reject);
    p.on('close', (code, sig) => {
      clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(signal.reason);
      else if (code === 0) resolve();
      else reject(new Error(`${path.basename(cmd)} exited ${code ?? sig}: ${err.trim().slice(0, 2000)}`));
    });
  });
}

/**
 * The environment of one pg_dump/pg_restore: the password in a libpq password file (mode 600, in a private temp dir;
 * `remove` deletes it), not in PGPASSWORD, which any process of the container could read in /proc/<pid>/environ
 * while the child runs. The price: the password is on the container's disk for the length of the run.
 */
export async function pgChildEnv(password: string): Promise<{ env: NodeJS.ProcessEnv; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'forum-pgpass-'));
  const file = path.join(dir, 'pgpass');
  await writeFile(file, `*:*:*:*:${password.replace(/[\\:]/g, (ch) => `\\${ch}`)}\n`, { mode: 0o600 });
  const env: NodeJS.ProcessEnv = { ...process.env, PGPASSFILE: file, PGCONNECT_TIMEOUT: '5' };
  delete env.PGPASSWORD;
  return { env, remove: () => rm(dir, { recursive: true, force: true }) };
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The default of BACKUP_TIMEOUT_SECONDS: a dump of the forum takes minutes; longer means it hangs. */
export const DEFAULT_BACKUP_TIMEOUT_MS = 30 * 60_000;

/**
 * pg_dump -Fc of the primary. The checksums in the manifest are taken in the SAME snapshot that pg_dump
 * dumps (pg_export_snapshot + --snapshot), so a restore can be verified exactly even under write load.
 * The whole attempt has a deadline (`timeoutMs`): then pg_dump is killed and a BackupTimeoutError thrown, so a
 * hung dump (a lock never granted, a server that stopped answering) never blocks the next scheduled backup.
 */
export async function runBackup(opts: { target: PgTarget; dir: string; pgBinDir?: string; logger: Logger; now?: Date; timeoutMs?: number }): Promise<Manifest> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_BACKUP_TIMEOUT_MS;
  const attempt = new AbortController();
  const timer = setTimeout(() => attempt.abort(new BackupTimeoutError(timeoutMs)), timeoutMs);
  const deadline = new Promise<never>((_, reject) => attempt.signal.addEventListener('abort', () => reject(attempt.signal.reason), { once: true }));
  deadline.catch(() => undefined);
  const inTime = <T>(p: Promise<T>) => Promise.race([p, deadline]);
  try {
    await mkdir(opts.dir, { recursive: true });
    const host = await inTime(findPrimary(opts.target));
    return await dumpFrom(host, { ...opts, timeoutMs }, attempt, inTime);
  } finally {
    clearTimeout(timer);
  }
}

async function dumpFrom(
  host: string,
  opts: { target: PgTarget; dir: string; pgBinDir?: string; logger: Logger; now?: Date; timeoutMs: number },
  attempt: AbortController,
  inTime: <T>(p: Promise<T>) => Promise<T>,
): Promise<Manifest> {
  const { target, dir, logger } = opts;
  const started = opts.now ?? new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const base = `${target.database}-${stamp}`;
  const tmp = path.join(dir, `.${base}.dump.partial`);
  const file = path.join(dir, `${base}.dump`);
  const c = client(target, host);
  let dump: Promise<void> | undefined;
  let child: Awaited<ReturnType<typeof pgChildEnv>> | undefined;
  try {
    await inTime(c.connect());
    // the checksum session waits on the same locks as pg_dump: the server ends its statements KILL_GRACE_MS after
    // the deadline. The margin lets the deadline, not a statement timeout racing it, end the attempt (counted as a
    // timeout); the cost is a stranded session waiting up to 5 s longer.
    await inTime(c.query(`set statement_timeout = ${opts.timeoutMs + KILL_GRACE_MS}`));
    await inTime(c.query('begin isolation level repeatable read read only'));
    const snap = (await inTime(c.query<{ s: string }>('select pg_export_snapshot() as s'))).rows[0].s;
    child = await pgChildEnv(target.password);
    dump = run(
      bin(opts.pgBinDir, 'pg_dump'),
      ['-h', host, '-p', String(target.port), '-U', target.user, '-d', target.database, '-Fc', '--no-owner', `--snapshot=${snap}`, '-f', tmp],
      child.env,
      attempt.signal,
    );
    dump.catch(() => undefined);
    const tables = await inTime(tableSums(c));
    await inTime(dump);
    await inTime(c.query('commit'));
    await rename(tmp, file);
    const manifest: Manifest = {
      file: path.basename(file),
      database: target.database,
      host,
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      bytes: (await stat(file)).size,
      sha256: await sha256(file),
      tables,
    };
    await writeFile(`${file}.json`, JSON.stringify(manifest, null, 2));
    logger.info({ file: manifest.file, bytes: manifest.bytes, host, tables: tables.length }, 'backup written');
    return manifest;
  } catch (err) {
    // pg_dump never outlives a failed attempt (it would hold its snapshot and locks): killed, then waited for
    if (!attempt.signal.aborted) attempt.abort(err);
    await dump?.catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  } finally {
    // pg_dump has ended here (awaited above on both paths)
    await child?.remove().catch(() => undefined);
    // after the deadline the session may wait on a lock or a silent server: its close is not waited for (the
    // server ends a waiting statement at statement_timeout)
    const closing = c.end().catch(() => undefined);
    if (!attempt.signal.aborted) await closing;
  }
}

/** Deletes dumps (and their manifests) older than `days`, but always keeps the newest `keepMin`. */
export async function applyRetention(dir: string, days: number, keepMin: number, logger: Logger, now = Date.now()): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.dump')).sort();
  const removed: string[] = [];
  const candidates = names.slice(0, Math.max(0, names.length - keepMin));
  for (const n of candidates) {
    const st = await stat(path.join(dir, n));
    if (now - st.mtimeMs > days * 86_400_000) {
      await unlink(path.join(dir, n));
      await unlink(path.join(dir, `${n}.json`)).catch(() => undefined);
      removed.push(n);
    }
  }
  if (removed.length) logger.info({ removed }, 'retention: old backups removed');
  return removed;
}

export interface VerifyResult {
  ok: boolean;
  mismatches: string[];
  tables: number;
  /** server_version_num of the server restored into (170000 and up: PostgreSQL 17, what production runs) */
  serverVersionNum: number;
}

/** pg_restore a dump into `database` (must exist, should be empty) and compare with its manifest. */
export async function restoreAndVerify(opts: { file: string; target: PgTarget; database: string; pgBinDir?: string; logger: Logger }): Promise<VerifyResult> {
  const manifest = JSON.parse(await readFile(`${opts.file}.json`, 'utf8')) as Manifest;
  const actualSha = await sha256(opts.file);
  if (actualSha !== manifest.sha256) throw new Error(`${opts.file}: sha256 ${actualSha} does not match the manifest (${manifest.sha256})`);
  const host = await findPrimary(opts.target);
  const child = await pgChildEnv(opts.target.password);
  try {
    await run(
      bin(opts.pgBinDir, 'pg_restore'),
      [
        '-h',
        host,
        '-p',
        String(opts.target.port),
        '-U',
        opts.target.user,
        '-d',
        opts.database,
        '--no-owner',
        '--no-privileges',
        '--exit-on-error',
        '--single-transaction',
        opts.file,
      ],
      child.env,
    );
  } finally {
    await child.remove().catch(() => undefined);
  }
  const c = client(opts.target, host, opts.database);
  await c.connect();
  try {
    await c.query('begin isolation level repeatable read read only');
    const got = new Map((await tableSums(c)).map((t) => [t.table, t]));
    const serverVersionNum = Number((await c.query<{ v: string }>("select current_setting('server_version_num') as v")).rows[0].v);
    await c.query('commit');
    const mismatches: string[] = [];
    for (const want of manifest.tables) {
      const have = got.get(want.table);
      if (!have) mismatches.push(`${want.table}: missing`);
      else if (have.rows !== want.rows || have.md5 !== want.md5)
        mismatches.push(`${want.table}: rows ${have.rows} vs ${want.rows}, md5 ${have.md5} vs ${want.md5}`);
    }
    opts.logger.info(
      { file: path.basename(opts.file), database: opts.database, tables: manifest.tables.length, serverVersionNum, mismatches },
      'restore verified',
    );
    return { ok: mismatches.length === 0, mismatches, tables: manifest.tables.length, serverVersionNum };
  } finally {
    await c.end().catch(() => undefined);
  }
}
