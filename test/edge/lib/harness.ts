// Test harness for the edge pieces (ipblock, nginx-agent, keepalived): REAL redis-server, nginx and keepalived
// processes on free ports / in private network namespaces, a local HTTP receiver standing in for Slack, and
// the services started as real processes from their TypeScript entry points.
import { chmodSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  startProcess,
  startRedis as redisServer,
  startSlackReceiver as slackReceiver,
  tempDir,
  waitForWith,
  type Proc,
  type RedisServer,
  type SlackReceiver,
} from '@forum/test-support';

export { freePort, startProcess, tempDir, type Proc, type RedisServer, type SlackReceiver };

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const TSX_IMPORT = join(REPO, 'node_modules/tsx/dist/esm/index.mjs');

/** waitFor of @forum/test-support at the edge suites' pace (15 s, every 50 ms). */
export const waitFor = waitForWith({ timeoutMs: 15_000, intervalMs: 50 });

/** A real redis-server on a free port with a random password. */
export function startRedis(): Promise<RedisServer> {
  return redisServer({ prefix: 'edge-redis-' });
}

/** A local stand-in for a Slack incoming webhook: records each JSON body and answers "ok" like Slack does. */
export function startSlackReceiver(): Promise<SlackReceiver> {
  return slackReceiver({ strict: true });
}

export interface Ipblock extends Proc {
  url: string;
  token: string;
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; json: any }>;
}

/** Starts services/ipblock from its TypeScript entry as a real process. */
export async function startIpblock(opts: {
  redis: RedisServer;
  slackUrl?: string;
  env?: Record<string, string>;
  token?: string;
  secretsDir: string;
  port?: number;
}): Promise<Ipblock> {
  const port = opts.port ?? (await freePort());
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
      const res = await fetch(`${url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
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
