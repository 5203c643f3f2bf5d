/**
 * A real PostgreSQL primary with a streaming standby (pg_basebackup -R), and a TCP proxy that can cut every
 * connection to a server at once: "the primary is unreachable" for the api without stopping it.
 */
import { execFileSync } from 'node:child_process';
import { chownSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, postgresBin, startPostgres as pgServer, tempDir, type PgServer } from '@forum/test-support';

const root = process.getuid?.() === 0;
const asPostgres = (cmd: string, args: string[]): [string, string[]] => (root ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
function run(cmd: string, args: string[]): void {
  try {
    execFileSync(...asPostgres(cmd, args), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr || e.message}`);
  }
}

export interface Replicated {
  primary: PgServer;
  standbyPort: number;
  /** superuser client on the standby (pause/resume replay) */
  standbyAdmin(): pg.Client;
  stop(): Promise<void>;
}

export async function startReplicated(): Promise<Replicated> {
  const primary = await pgServer({
    prefix: 'forum-api-pgrepl-',
    hba: 'local all postgres trust\nlocal replication postgres trust\nhost all all 127.0.0.1/32 scram-sha-256\n',
    settings: { synchronous_commit: 'off', full_page_writes: 'on', max_connections: 100, wal_level: 'replica' },
  });
  const c = new pg.Client({ host: primary.dir, port: primary.port, user: 'postgres', database: 'postgres' });
  await c.connect();
  await c.query(`CREATE ROLE forum LOGIN PASSWORD 'forum-test-pw'`);
  await c.query(`CREATE DATABASE forum OWNER forum`);
  await c.end();
  const t = tempDir('forum-api-standby-');
  if (root) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(t.dir, id('-u'), id('-g'));
  }
  const data = join(t.dir, 'data');
  const bin = postgresBin();
  run(`${bin}/pg_basebackup`, ['-h', primary.dir, '-p', String(primary.port), '-U', 'postgres', '-D', data, '-R', '-X', 'stream', '--no-sync']);
  const standbyPort = await freePort();
  run(`${bin}/pg_ctl`, [
    '-D',
    data,
    '-l',
    join(t.dir, 'log'),
    '-w',
    '-t',
    '30',
    'start',
    '-o',
    `-p ${standbyPort} -k ${t.dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
  ]);
  return {
    primary,
    standbyPort,
    standbyAdmin: () => new pg.Client({ host: t.dir, port: standbyPort, user: 'postgres', database: 'postgres' }),
    async stop() {
      try {
        execFileSync(...asPostgres(`${bin}/pg_ctl`, ['-D', data, '-m', 'immediate', '-w', 'stop']), { stdio: 'ignore' });
      } catch {
        /* stopped */
      }
      t.remove();
      await primary.stop();
    },
  };
}

/** A loopback TCP proxy to `target`; cut() drops every connection and refuses new ones until restore(). */
export interface CutProxy {
  port: number;
  cut(): Promise<void>;
  /** drops every connection, then accepts new ones and never answers them (a hung Pgpool), until restore() */
  stall(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(target: number): Promise<CutProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let stalled = false;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        if (stalled) {
          sockets.add(client);
          client.on('error', () => client.destroy()).on('close', () => sockets.delete(client));
          return;
        }
        const upstream = connect(target, '127.0.0.1');
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      }).listen(port, '127.0.0.1', () => resolve());
    });
  const dropAll = () => {
    for (const x of sockets) x.destroy();
    sockets.clear();
  };
  const cut = async () => {
    const s = server;
    server = undefined;
    dropAll();
    if (s) await new Promise((r) => s.close(() => r(undefined)));
  };
  const stall = async () => {
    stalled = true;
    dropAll();
    if (!server) await listen();
  };
  const restore = async () => {
    stalled = false;
    dropAll();
    if (!server) await listen();
  };
  await listen();
  return { port, cut, stall, restore, close: cut };
}
