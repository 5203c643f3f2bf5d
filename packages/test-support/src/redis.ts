import { spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from './ports.js';
import { startProcess, tempDir } from './process.js';
import { waitFor } from './wait.js';

export interface RedisServer {
  port: number;
  password: string;
  url: string;
  dir: string;
  proc: ChildProcess;
  output(): string;
  /** redis-cli against this server (authenticated); throws on a non-zero exit */
  cli(...args: string[]): string;
  stop(): Promise<void>;
}

/**
 * A real redis-server (no persistence) on a free loopback port (or `port`, e.g. to bring a stopped one back) with
 * `requirepass`, ready when redis-cli PING answers. stop() sends `stopSignal` (default SIGTERM) and removes its dir.
 */
export async function startRedis(opts: { password?: string; port?: number; prefix?: string; stopSignal?: NodeJS.Signals } = {}): Promise<RedisServer> {
  const port = opts.port ?? (await freePort());
  const password = opts.password ?? `pw-${Math.random().toString(36).slice(2)}`;
  const t = tempDir(opts.prefix ?? 'redis-');
  const p = startProcess(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', password, '--dir', t.dir],
    {
      keepOutput: 20_000,
      killAfterMs: 5000,
    },
  );
  const cli = (...args: string[]) => {
    const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning', '-a', password, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };
  await waitFor(
    'redis-server',
    () => {
      if (p.proc.exitCode !== null) throw new Error(`redis-server exited: ${p.output()}`);
      return cli('PING') === 'PONG';
    },
    20_000,
    50,
  );
  return {
    port,
    password,
    url: `redis://127.0.0.1:${port}`,
    dir: t.dir,
    proc: p.proc,
    output: p.output,
    cli,
    async stop() {
      await p.stop(opts.stopSignal ?? 'SIGTERM');
      t.remove();
    },
  };
}
