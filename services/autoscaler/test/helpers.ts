/** Test support: a real autoscaler process, a Slack receiver, Swarm test services (prefix as-test-). */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const pexec = promisify(execFile);
export const SERVICE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = join(SERVICE_DIR, '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
}

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await pexec('docker', args, { maxBuffer: 16 << 20 });
  return stdout.trim();
}

export interface TestService {
  name: string;
  replicas: () => Promise<number>;
  labels: () => Promise<Record<string, string>>;
  running: () => Promise<number>;
  version: () => Promise<number>;
}

/** Creates a replicated Swarm service from the local trixie image running `sleep infinity`. */
export async function createTestService(name: string, labels: Record<string, string>, replicas = 1): Promise<TestService> {
  const args = ['service', 'create', '--detach', '--quiet', '--name', name, '--replicas', String(replicas), '--stop-grace-period', '1s'];
  for (const [k, v] of Object.entries(labels)) args.push('--label', `${k}=${v}`);
  args.push('debian:trixie-slim', 'sleep', 'infinity');
  await docker(...args);
  const inspect = async () => JSON.parse(await docker('service', 'inspect', name))[0];
  return {
    name,
    replicas: async () => (await inspect()).Spec.Mode.Replicated.Replicas,
    labels: async () => (await inspect()).Spec.Labels ?? {},
    version: async () => (await inspect()).Version.Index,
    running: async () => {
      const out = await docker('service', 'ps', name, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}');
      return out.split('\n').filter((l) => l.startsWith('Running')).length;
    },
  };
}

export async function removeServices(prefix: string): Promise<void> {
  const names = (await docker('service', 'ls', '--quiet', '--filter', `name=${prefix}`, '--format', '{{.Name}}')).split('\n').filter((n) => n.startsWith(prefix));
  if (names.length) await docker('service', 'rm', ...names).catch(() => undefined);
}

/** Removes as-test-<pid>-* services left by test runs whose process is gone (never another live run's). */
export async function removeStaleServices(): Promise<void> {
  const names = (await docker('service', 'ls', '--format', '{{.Name}}')).split('\n').filter((n) => n.startsWith('as-test-'));
  const stale = names.filter((n) => {
    const pid = Number(/^as-test-(\d+)-/.exec(n)?.[1]);
    if (!pid) return true;
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
  if (stale.length) await docker('service', 'rm', ...stale).catch(() => undefined);
}

export interface SlackReceiver {
  url: string;
  messages: Array<{ text: string; color?: string; body: Record<string, unknown> }>;
  close: () => Promise<void>;
}

/** A local Slack incoming-webhook stand-in: answers "ok" like Slack, records each body. */
export async function startSlackReceiver(host = '127.0.0.1'): Promise<SlackReceiver> {
  const messages: SlackReceiver['messages'] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      try {
        const body = JSON.parse(raw);
        messages.push({ text: body.text, color: body.attachments?.[0]?.color, body });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('invalid_payload');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://${host}:${port}/services/T000/B000/XXXX`, messages, close: () => new Promise((r) => server.close(() => r())) };
}

export interface Proc {
  url: string;
  port: number;
  child: ChildProcess;
  logs: () => Array<Record<string, unknown>>;
  kill: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Starts a real autoscaler process (src via tsx) and waits for its liveness endpoint. */
export async function startAutoscaler(env: Record<string, string>): Promise<Proc> {
  return startNodeService(join(SERVICE_DIR, 'src', 'main.ts'), env);
}

/** Starts a service entry (TypeScript via tsx) on a free PORT and waits for GET /healthcheck/. */
export async function startNodeService(entry: string, env: Record<string, string>): Promise<Proc> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), LOG_LEVEL: 'debug', SLACK_MIN_INTERVAL_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buf = '';
  const onData = (c: Buffer) => {
    buf += c.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  await until(`${entry} on ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`${entry} exited ${child.exitCode}: ${lines.join('\n')}`);
    return (await fetch(`${url}/healthcheck/`)).ok;
  }, 30_000);
  return {
    url,
    port,
    child,
    logs: () =>
      lines.flatMap((l) => {
        try {
          return [JSON.parse(l)];
        } catch {
          return [];
        }
      }),
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

export function tokenFile(token: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'as-test-'));
  const f = join(dir, 'autoscaler_token');
  writeFileSync(f, `${token}\n`, { mode: 0o600 });
  return f;
}
