/** Test support: a real autoscaler process, a Slack receiver, Swarm test services (prefix as-test-). */
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, startProcess, startSlackReceiver as slackReceiver, waitForWith, type SlackReceiver } from '@forum/test-support';

export { freePort, type SlackReceiver };
const pexec = promisify(execFile);
export const SERVICE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = join(SERVICE_DIR, '..', '..');

/** waitFor of @forum/test-support at this suite's pace (30 s, every 200 ms). */
export const until = waitForWith({ timeoutMs: 30_000, intervalMs: 200 });

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
  const names = (await docker('service', 'ls', '--quiet', '--filter', `name=${prefix}`, '--format', '{{.Name}}'))
    .split('\n')
    .filter((n) => n.startsWith(prefix));
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

/** A local Slack incoming-webhook stand-in: answers "ok" like Slack, records each body. */
export function startSlackReceiver(host = '127.0.0.1'): Promise<SlackReceiver> {
  return slackReceiver({ host });
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
  const p = startProcess(process.execPath, ['--import', 'tsx', entry], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), LOG_LEVEL: 'debug', SLACK_MIN_INTERVAL_MS: '0', ...env },
    keepOutput: Infinity,
  });
  const lines = () => p.output().split('\n');
  const url = `http://127.0.0.1:${port}`;
  await until(
    `${entry} on ${port}`,
    async () => {
      if (p.proc.exitCode !== null) throw new Error(`${entry} exited ${p.proc.exitCode}: ${p.output()}`);
      return (await fetch(`${url}/healthcheck/`)).ok;
    },
    30_000,
  );
  return {
    url,
    port,
    child: p.proc,
    logs: () =>
      lines().flatMap((l) => {
        try {
          return [JSON.parse(l)];
        } catch {
          return [];
        }
      }),
    kill: async (signal = 'SIGTERM') => {
      const r = await p.stop(signal);
      return typeof r === 'number' ? r : null;
    },
  };
}

export function tokenFile(token: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'as-test-'));
  const f = join(dir, 'autoscaler_token');
  writeFileSync(f, `${token}\n`, { mode: 0o600 });
  return f;
}
