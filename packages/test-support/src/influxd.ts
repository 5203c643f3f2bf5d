import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { startProcess, tempDir, type Proc } from './process.js';
import { waitFor } from './wait.js';

export interface Influxd {
  url: string;
  port: number;
  dir: string;
  /** set with `auth: true` (an admin user; every call of this handle authenticates) */
  user?: string;
  password?: string;
  proc: ChildProcess;
  output(): string;
  /** (Re)start on the same port and data dir (for outage tests). */
  start(): Promise<void>;
  /** Stop the process but keep the data dir (for outage tests); stop() also removes it. */
  kill(): Promise<void>;
  stop(): Promise<void>;
  /** An InfluxQL statement (POST /query, epoch=ms); throws on any error in the answer. */
  query(q: string, db?: string): Promise<any>;
  /** Line protocol, precision ms. */
  write(db: string, lines: string): Promise<void>;
}

/**
 * A real Debian influxd (1.x) on free loopback ports with a temp data dir. `auth: true` enables HTTP auth, creates
 * an admin user (user/password on the handle) and the database telegraf.
 */
export async function startInfluxd(opts: { auth: true; prefix?: string }): Promise<Influxd & { user: string; password: string }>;
export async function startInfluxd(opts?: { auth?: boolean; prefix?: string }): Promise<Influxd>;
export async function startInfluxd(opts: { auth?: boolean; prefix?: string } = {}): Promise<Influxd> {
  const t = tempDir(opts.prefix ?? 'influxd-');
  const dir = t.dir;
  const port = await freePort();
  const rpc = await freePort();
  const conf = join(dir, 'influxdb.conf');
  writeFileSync(
    conf,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpc}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  auth-enabled = ${opts.auth ? 'true' : 'false'}
  log-enabled = false
[logging]
  level = "warn"
`,
  );
  const url = `http://127.0.0.1:${port}`;
  const user = opts.auth ? 'admin' : undefined;
  const password = opts.auth ? `pw-${process.pid}-${Date.now()}` : undefined;
  const headers = (): Record<string, string> => (user ? { authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') } : {});
  let p: Proc | undefined;
  const d: Influxd = {
    url,
    port,
    dir,
    user,
    password,
    proc: undefined as unknown as ChildProcess,
    output: () => p?.output() ?? '',
    async start() {
      p = startProcess('influxd', ['run', '-config', conf], { keepOutput: 20_000, killAfterMs: 5000 });
      d.proc = p.proc;
      const proc = p.proc;
      await waitFor(
        'influxd /ping',
        async () => {
          if (proc.exitCode !== null) throw new Error(`influxd exited: ${d.output()}`);
          return (await fetch(`${url}/ping`)).status === 204;
        },
        30_000,
      );
    },
    async kill() {
      await p?.stop();
    },
    async stop() {
      await p?.stop();
      t.remove();
    },
    async query(q, db = 'telegraf') {
      const body = new URLSearchParams({ q, db, epoch: 'ms' });
      const res = await fetch(`${url}/query`, { method: 'POST', headers: headers(), body });
      const j = (await res.json()) as any;
      if (j.error) throw new Error(j.error);
      if (j.results?.[0]?.error) throw new Error(j.results[0].error);
      if (!res.ok) throw new Error(`influx query ${q}: HTTP ${res.status} ${JSON.stringify(j)}`);
      return j;
    },
    async write(db, lines) {
      const res = await fetch(`${url}/write?db=${encodeURIComponent(db)}&precision=ms`, { method: 'POST', headers: headers(), body: lines });
      if (res.status !== 204) throw new Error(`influx write: ${res.status} ${await res.text()}`);
    },
  };
  await d.start();
  if (opts.auth) {
    // the first user may be created without credentials
    const create = await fetch(`${url}/query`, {
      method: 'POST',
      body: new URLSearchParams({ q: `CREATE USER "${user}" WITH PASSWORD '${password}' WITH ALL PRIVILEGES` }),
    });
    if (!create.ok) throw new Error(`cannot create the admin user: ${await create.text()}`);
    await d.query('CREATE DATABASE telegraf');
  }
  return d;
}

/** Flattens an InfluxQL answer into rows of {_name, ...tags, ...columns}. */
export function rows(res: any): Array<Record<string, any>> {
  const out: Array<Record<string, any>> = [];
  for (const r of res.results ?? []) {
    for (const s of r.series ?? []) {
      for (const v of s.values ?? []) {
        const row: Record<string, any> = { _name: s.name, ...(s.tags ?? {}) };
        s.columns.forEach((c: string, i: number) => (row[c] = v[i]));
        out.push(row);
      }
    }
  }
  return out;
}
