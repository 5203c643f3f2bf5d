import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { tempDir } from './process.js';

/** PG_BIN, else the newest /usr/lib/postgresql/<major>/bin (Debian's layout). */
export function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(a) - Number(b))
    : [];
  return join(root, majors.at(-1) ?? '15', 'bin');
}

export interface PgServer {
  port: number;
  /** temp dir: also the unix socket directory */
  dir: string;
  data: string;
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL cluster (initdb, trust for the superuser `postgres`) on a free loopback port, socket in its temp
 * dir; as root the server runs as the postgres user. `hba`: a pg_hba.conf to use instead of initdb's (trust);
 * `settings`: extra `-c name=value` server settings (fsync=off always). stop() = immediate shutdown + remove.
 */
export async function startPostgres(opts: { prefix?: string; hba?: string; settings?: Record<string, string | number> } = {}): Promise<PgServer> {
  const bin = postgresBin();
  const t = tempDir(opts.prefix ?? 'pg-');
  const dir = t.dir;
  const root = process.getuid?.() === 0;
  if (root) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  const asPostgres = (cmd: string, args: string[]): [string, string[]] => (root ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
  const run = (cmd: string, args: string[]) => {
    try {
      execFileSync(...asPostgres(cmd, args), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
    }
  };
  const port = await freePort();
  const data = join(dir, 'data');
  run(`${bin}/initdb`, ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
  if (opts.hba !== undefined) writeFileSync(join(data, 'pg_hba.conf'), opts.hba, { mode: 0o644 });
  const settings = Object.entries({ listen_addresses: '127.0.0.1', fsync: 'off', ...opts.settings }).map(([k, v]) => `-c ${k}=${v}`);
  run(`${bin}/pg_ctl`, ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '30', 'start', '-o', [`-p ${port}`, `-k ${dir}`, ...settings].join(' ')]);
  return {
    port,
    dir,
    data,
    async stop() {
      try {
        execFileSync(...asPostgres(`${bin}/pg_ctl`, ['-D', data, '-m', 'immediate', '-w', 'stop']), { stdio: 'ignore' });
      } catch {
        /* already stopped */
      }
      t.remove();
    },
  };
}
