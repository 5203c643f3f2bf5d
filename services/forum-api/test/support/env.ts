/**
 * Starts REAL PostgreSQL 15 and Redis 7 (Debian packages) as private processes on free ports in temp dirs,
 * plus helpers to run the API in-process or as a child process. Everything is stopped and removed by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpServer, type Server } from 'node:http';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import { createLogger, loadConfig } from '@forum/shared';
import {
  cookieHeader,
  freePort,
  readBody,
  startPostgres as pgServer,
  startRedis as redisServer,
  storeCookies,
  waitForWith,
  type RedisServer,
} from '@forum/test-support';
import { configShape, secretKeys, type Config } from '../../src/config.js';
import { buildRuntime, type Runtime } from '../../src/app.js';
import { bootstrap } from '../../src/bootstrap.js';

export const SERVICE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export { freePort };
/** waitFor of @forum/test-support at this suite's pace (20 s, every 50 ms). */
export const waitFor = waitForWith({ timeoutMs: 20_000, intervalMs: 50 });

export interface PgInstance {
  port: number;
  dir: string;
  adminUrl: string;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<PgInstance> {
  // trust on the unix socket (setup only), passwords over TCP (what the service uses)
  const srv = await pgServer({
    prefix: 'forum-api-pg-',
    hba: 'local all postgres trust\nhost all all 127.0.0.1/32 scram-sha-256\n',
    settings: { synchronous_commit: 'off', full_page_writes: 'off', max_connections: 200 },
  });
  const { port, dir } = srv;
  const c = new pg.Client({ host: dir, port, user: 'postgres', database: 'postgres' });
  await waitFor('postgres', async () => {
    await c.connect();
    return true;
  });
  await c.query(`CREATE ROLE forum LOGIN PASSWORD 'forum-test-pw'`);
  await c.query(`CREATE DATABASE forum OWNER forum`);
  await c.end();
  return { port, dir, adminUrl: `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}&port=${port}`, stop: () => srv.stop() };
}

export type RedisInstance = RedisServer;

/** A real redis-server (password redis-test-pw); `fixedPort` brings a stopped one back on its port. Stopped with SIGKILL. */
export function startRedis(fixedPort?: number): Promise<RedisInstance> {
  return redisServer({ prefix: 'forum-api-redis-', password: 'redis-test-pw', port: fixedPort, stopSignal: 'SIGKILL' });
}

export interface Stack {
  pg: PgInstance;
  redis: RedisInstance;
  /** Env for the service (as the stack would set it, secrets inline). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const [pgi, redis] = await Promise.all([startPostgres(), startRedis()]);
  const env: Record<string, string> = {
    PGHOST: '127.0.0.1',
    PGPORT: String(pgi.port),
    PGDATABASE: 'forum',
    PGUSER: 'forum',
    PGPASSWORD: 'forum-test-pw',
    REDIS_URL: `redis://127.0.0.1:${redis.port}`,
    REDIS_PASSWORD: redis.password,
    SESSION_SECRET: 'test-session-secret-0123456789',
    ADMIN_USERNAME: 'admin',
    ADMIN_EMAIL: 'admin@example.com',
    ADMIN_PASSWORD: 'admin-password-1',
    LOG_LEVEL: 'silent',
  };
  return {
    pg: pgi,
    redis,
    env,
    async stop() {
      await Promise.allSettled([pgi.stop(), redis.stop()]);
    },
  };
}

export function configFor(env: Record<string, string>): Config {
  return loadConfig(configShape, { env, secrets: secretKeys as never }) as Config;
}

export interface InProcessApi {
  url: string;
  rt: Runtime;
  cfg: Config;
  close(): Promise<void>;
}

/**
 * A private stack and an in-process API for the whole test file: started before its first test (handed to `started`),
 * stopped after its last one.
 */
export function stackAndApiPerFile(started: (stack: Stack, api: InProcessApi) => void, opts: { logLines?: string[] } = {}): void {
  let stack: Stack | undefined;
  let api: InProcessApi | undefined;
  before(async () => {
    stack = await startStack();
    api = await startApi(stack.env, opts);
    started(stack, api);
  });
  after(async () => {
    await api?.close();
    await stack?.stop();
  });
}

/** The API in this process on a free port (bootstrap = migrations + admin, as main.ts does). */
export async function startApi(env: Record<string, string>, opts: { logLines?: string[] } = {}): Promise<InProcessApi> {
  const cfg = configFor(env);
  const logger = opts.logLines
    ? pino({ level: 'info' }, { write: (line: string) => void opts.logLines!.push(line) })
    : createLogger('forum-api-test', { level: env.LOG_LEVEL ?? 'silent' });
  const rt = buildRuntime(cfg, logger);
  await bootstrap(cfg, rt.db, logger);
  const server: Server = await new Promise((resolve) => {
    // the same handler main.ts serves (guests' cached-page fast path, then Express)
    const s = createHttpServer(rt.handler).listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    rt,
    cfg,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await rt.close();
    },
  };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function isBuildFresh(dist: string): boolean {
  if (!existsSync(dist)) return false;
  const shared = join(SERVICE_DIR, '..', '..', 'packages', 'shared');
  return statSync(dist).mtimeMs >= Math.max(newestMtime(join(SERVICE_DIR, 'src')), newestMtime(join(shared, 'src')));
}

/** A child process running src/<entry>.ts with tsx; collects stdout lines (pino JSON). */
export interface Child {
  proc: ChildProcess;
  lines: string[];
  waitForLine(pred: (obj: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnEntry(entry: 'main' | 'worker', env: Record<string, string>): Child {
  const dist = join(SERVICE_DIR, 'dist', `${entry}.js`);
  const src = join(SERVICE_DIR, 'src', `${entry}.ts`);
  // the build when it is newer than every source file (starts fast), else tsx on the source (never stale)
  const args = isBuildFresh(dist) ? [dist] : ['--import', 'tsx', src];
  const proc = spawn(process.execPath, args, {
    cwd: SERVICE_DIR,
    env: { PATH: process.env.PATH ?? '', ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const parsed = () =>
    lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { raw: l } as Record<string, unknown>;
      }
    });
  return {
    proc,
    lines,
    waitForLine: (pred, timeoutMs = 60_000) =>
      waitFor(
        `log line from ${entry} (stderr: ${err.slice(-500)})`,
        () => {
          if (proc.exitCode !== null) throw new Error(`${entry} exited ${proc.exitCode}: ${err.slice(-1000)} ${lines.slice(-5).join('\n')}`);
          return parsed().find(pred);
        },
        timeoutMs,
      ),
    kill: async (signal = 'SIGKILL') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      proc.kill(signal);
      return exited;
    },
  };
}

/** A tiny HTTP client with a cookie jar that plays Misago's CSRF game (csrftoken cookie -> X-CSRFToken). */
export class Client {
  cookies = new Map<string, string>();
  constructor(
    public base: string,
    public headers: Record<string, string> = {},
  ) {}

  get csrf(): string | undefined {
    return this.cookies.get('csrftoken');
  }

  async request(method: string, path: string, body?: unknown, opts: { csrf?: boolean; headers?: Record<string, string>; raw?: string } = {}) {
    const headers: Record<string, string> = { ...this.headers, ...(opts.headers ?? {}) };
    if (this.cookies.size) headers.cookie = cookieHeader(this.cookies)!;
    if (method !== 'GET' && opts.csrf !== false) {
      if (!this.csrf) await this.request('GET', '/api/auth/');
      headers['x-csrftoken'] = this.csrf!;
      if (!headers.cookie || !headers.cookie.includes('csrftoken')) headers.cookie = cookieHeader(this.cookies)!;
    }
    let payload: string | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const res = await fetch(this.base + path, { method, headers, body: payload, redirect: 'manual' });
    storeCookies(this.cookies, res.headers);
    const { text, json } = await readBody(res);
    return { status: res.status, body: json, text, headers: res.headers };
  }
  get = (p: string, o?: { headers?: Record<string, string> }) => this.request('GET', p, undefined, o);
  post = (p: string, b?: unknown, o?: Parameters<Client['request']>[3]) => this.request('POST', p, b, o);
  put = (p: string, b?: unknown, o?: Parameters<Client['request']>[3]) => this.request('PUT', p, b, o);
  patch = (p: string, b?: unknown, o?: Parameters<Client['request']>[3]) => this.request('PATCH', p, b, o);
  del = (p: string, o?: Parameters<Client['request']>[3]) => this.request('DELETE', p, undefined, o);

  async register(username: string, password = 'password-123', email = `${username.toLowerCase()}@example.com`) {
    const r = await this.post('/api/users/', { username, email, password });
    if (r.status !== 200) throw new Error(`register ${username}: ${r.status} ${r.text}`);
    return r.body as { id: number; username: string };
  }
  async login(username: string, password: string) {
    const r = await this.post('/api/auth/', { username, password });
    if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${r.text}`);
    return r.body;
  }
}
