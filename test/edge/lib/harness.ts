// Test harness for the edge pieces (ipblock, nginx-agent, keepalived): REAL redis-server, nginx and keepalived
// processes on free ports / in private network namespaces, a local HTTP receiver standing in for Slack, and
// the services started as real processes from their TypeScript entry points.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const TSX_IMPORT = join(REPO, 'node_modules/tsx/dist/esm/index.mjs');

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.once('error', rej);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => res(port));
    });
  });
}

/** Polls `fn` until it returns something other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
}

export interface Proc {
  proc: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

export function startProcess(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
  const proc = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-200_000));
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | string>((res) => proc.once('exit', (code, sig) => res(code ?? sig ?? -1)));
  return {
    proc,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 10000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

export interface RedisServer {
  port: number;
  password: string;
  url: string;
  cli(...args: string[]): string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const dir = mkdtempSync(join(tmpdir(), 'edge-redis-'));
  const p = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', password, '--dir', dir]);
  const cli = (...args: string[]) => {
    const r = spawnSync('redis-cli', ['-p', String(port), '--no-auth-warning', '-a', password, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };
  await waitFor('redis-server', () => cli('PING') === 'PONG', 10000);
  return {
    port,
    password,
    url: `redis://127.0.0.1:${port}`,
    cli,
    async stop() {
      await p.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A local stand-in for a Slack incoming webhook: records each JSON body and answers "ok" like Slack does. */
export interface SlackReceiver {
  url: string;
  messages: Array<{ text: string; attachments?: Array<{ color?: string }>; blocks?: unknown[] }>;
  close(): Promise<void>;
}

export async function startSlackReceiver(): Promise<SlackReceiver> {
  const messages: SlackReceiver['messages'] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      try {
        const json = JSON.parse(body);
        if (req.headers['content-type'] !== 'application/json' || typeof json.text !== 'string') throw new Error('bad');
        messages.push(json);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('invalid_payload');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/services/T000/B000/XXXX`, messages, close: () => new Promise((r) => server.close(() => r())) };
}

export function tempDir(prefix: string): { dir: string; file(name: string, content: string, mode?: number): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    file(name, content, mode = 0o600) {
      const p = join(dir, name);
      writeFileSync(p, content, { mode });
      return p;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Ipblock extends Proc {
  url: string;
  token: string;
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; json: any }>;
}

/** Starts services/ipblock from its TypeScript entry as a real process. */
export async function startIpblock(opts: { redis: RedisServer; slackUrl?: string; env?: Record<string, string>; token?: string; secretsDir: string }): Promise<Ipblock> {
  const port = await freePort();
  const token = opts.token ?? 'test-token-0123456789abcdef';
  const secrets = opts.secretsDir;
  const tokenFile = join(secrets, `token-${port}`);
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  writeFileSync(join(secrets, `redis-${port}`), opts.redis.password, { mode: 0o600 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    PORT: String(port),
    LOG_LEVEL: 'info',
    HOSTNAME: `ipblock-${port}`,
    REDIS_URL: opts.redis.url,
    REDIS_PASSWORD_FILE: join(secrets, `redis-${port}`),
    IPBLOCK_TOKEN_FILE: tokenFile,
    ...opts.env,
  };
  if (opts.slackUrl) {
    writeFileSync(join(secrets, `slack-${port}`), opts.slackUrl, { mode: 0o600 });
    env.SLACK_WEBHOOK_URL_FILE = join(secrets, `slack-${port}`);
  }
  const p = startProcess(process.execPath, ['--import', TSX_IMPORT, join(REPO, 'services/ipblock/src/main.ts')], { env, cwd: REPO });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `ipblock ready (${p.output().slice(-500)})`,
    async () => {
      if (p.proc.exitCode !== null) throw new Error(`ipblock exited: ${p.output()}`);
      return (await fetch(`${url}/healthcheck/ready/`)).ok;
    },
    20000,
  );
  return {
    ...p,
    url,
    token,
    async api(method, path, body, tok = token) {
      const headers: Record<string, string> = {};
      if (tok !== null) headers.authorization = `Bearer ${tok}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
      const text = await res.text();
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = text;
      }
      return { status: res.status, json };
    },
  };
}

export interface EdgeNginx extends Proc {
  port: number;
  dir: string;
  blocklistFile: string;
  errorLog: string;
  /** GET / as client `ip` (X-Forwarded-For from the trusted loopback, as realip rewrites it). */
  get(ip: string): Promise<number>;
  /** How many configuration reloads the NGINX master has performed. */
  reloads(): number;
  cleanup(): void;
}

/**
 * A real NGINX with the stack's blocking contract (docs/CONVENTIONS.md "IP blocks at NGINX"): geo $ip_blocked over
 * the realip-rewritten address, including the agent's file, 403 JSON when blocked. It is started by the real
 * nginx-agent (services/nginx-agent/src/main.ts), exactly like the container's entrypoint does.
 */
export async function startEdgeNginx(opts: { ipblock: Ipblock; env?: Record<string, string>; waitReady?: boolean }): Promise<EdgeNginx> {
  const { readFileSync, existsSync } = await import('node:fs');
  const port = await freePort();
  const t = tempDir('edge-nginx-');
  // NGINX workers run as nobody: they must be able to stat the drain file
  chmodSync(t.dir, 0o755);
  const blocklistFile = join(t.dir, 'blocklist/blocklist.conf');
  const errorLog = join(t.dir, 'error.log');
  const conf = t.file(
    'nginx.conf',
    `worker_processes 1;
# main context: old workers of a reload may linger this long at most
worker_shutdown_timeout 5s;
pid ${t.dir}/nginx.pid;
error_log ${errorLog} notice;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${t.dir}/body; proxy_temp_path ${t.dir}/proxy; fastcgi_temp_path ${t.dir}/fastcgi;
  uwsgi_temp_path ${t.dir}/uwsgi; scgi_temp_path ${t.dir}/scgi;
  set_real_ip_from 127.0.0.1;
  real_ip_header X-Forwarded-For;
  geo $ip_blocked { default 0; include ${blocklistFile}; }
  server {
    listen 127.0.0.1:${port};
    default_type application/json;
    if ($ip_blocked) { return 403 '{"detail":"Your address is blocked.","code":"ip_blocked"}'; }
    location = /nginx-health { if (-f ${t.dir}/blocklist/draining) { return 503 'draining'; } return 200 'ok'; }
    location / { return 200 '{"ok":true}'; }
  }
}
`,
    0o644,
  );
  const tokenFile = t.file('token', opts.ipblock.token);
  const p = startProcess(
    process.execPath,
    ['--import', TSX_IMPORT, join(REPO, 'services/nginx-agent/src/main.ts'), '--', 'nginx', '-c', conf, '-p', t.dir, '-g', 'daemon off;'],
    {
      cwd: REPO,
      env: {
        PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
        LOG_LEVEL: 'info',
        IPBLOCK_URL: opts.ipblock.url,
        IPBLOCK_TOKEN_FILE: tokenFile,
        BLOCKLIST_FILE: blocklistFile,
        ...opts.env,
      },
    },
  );
  const get = async (ip: string) => (await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-forwarded-for': ip } })).status;
  const edge: EdgeNginx = {
    ...p,
    port,
    dir: t.dir,
    blocklistFile,
    errorLog,
    get,
    reloads: () => (existsSync(errorLog) ? (readFileSync(errorLog, 'utf8').match(/\(SIGHUP\) received/g)?.length ?? 0) : 0),
    cleanup: () => t.remove(),
  };
  if (opts.waitReady !== false) {
    await waitFor(`nginx on ${port}: ${p.output().slice(-300)}`, async () => {
      if (p.proc.exitCode !== null) throw new Error(`agent exited: ${p.output()}`);
      return (await fetch(`http://127.0.0.1:${port}/nginx-health`)).ok;
    });
  }
  return edge;
}
