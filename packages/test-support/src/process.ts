import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Proc {
  proc: ChildProcess;
  /** the last `keepOutput` characters of stdout + stderr */
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  /** Sends `signal` (default SIGTERM), SIGKILL after `timeoutMs`; resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

export interface StartProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** characters of output kept for output() (default 200 000) */
  keepOutput?: number;
  /** default grace before SIGKILL in stop() (default 10 s) */
  killAfterMs?: number;
  /** 'ignore' discards output (default: piped and kept) */
  stdio?: 'pipe' | 'ignore';
}

/** Spawns a process (a daemon in the foreground, a service entry) whose output is kept and which stop() ends. */
export function startProcess(cmd: string, args: string[], opts: StartProcessOptions = {}): Proc {
  const stdio: StdioOptions = opts.stdio === 'ignore' ? 'ignore' : ['ignore', 'pipe', 'pipe'];
  const proc = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio });
  const keepOutput = opts.keepOutput ?? 200_000;
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-keepOutput));
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | string>((res) => proc.once('exit', (code, sig) => res(code ?? sig ?? -1)));
  return {
    proc,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = opts.killAfterMs ?? 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

/** Throws (with its output) when a started process has already exited: for readiness polls. */
export function assertRunning(p: Proc, what: string): void {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) throw new Error(`${what} exited (${p.proc.exitCode ?? p.proc.signalCode}): ${p.output()}`);
}

export interface TempDir {
  dir: string;
  /** writes dir/name (mode 0600 unless given) and returns its path */
  file(name: string, content: string, mode?: number): string;
  remove(): void;
}

/** A fresh directory under the OS temp dir. */
export function tempDir(prefix: string): TempDir {
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
