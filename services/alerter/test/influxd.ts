/** A private, real InfluxDB 1.x (Debian's influxd) on free ports with temp dirs, auth enabled. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, until } from '../../autoscaler/test/helpers.js';

export interface Influxd {
  url: string;
  user: string;
  password: string;
  query: (q: string, db?: string) => Promise<any>;
  write: (db: string, lines: string) => Promise<void>;
  stop: () => Promise<void>;
  child: ChildProcess;
}

export async function startInfluxd(): Promise<Influxd> {
  const dir = mkdtempSync(join(tmpdir(), 'alerter-influx-'));
  const http = await freePort();
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
[http]
  enabled = true
  bind-address = "127.0.0.1:${http}"
  auth-enabled = true
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`,
  );
  const child = spawn('influxd', ['-config', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${http}`;
  const user = 'admin';
  const password = `pw-${process.pid}-${Date.now()}`;
  await until('influxd /ping', async () => {
    if (child.exitCode !== null) throw new Error(`influxd exited: ${stderr}`);
    return (await fetch(`${url}/ping`)).status === 204;
  }, 30_000);
  const auth = () => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  const query = async (q: string, db?: string) => {
    const body = new URLSearchParams({ q, ...(db ? { db } : {}) });
    const res = await fetch(`${url}/query`, { method: 'POST', headers: { authorization: auth() }, body });
    const json = await res.json();
    if (!res.ok || json.error || json.results?.[0]?.error) throw new Error(`influx query ${q}: ${JSON.stringify(json)}`);
    return json;
  };
  // the first user may be created without credentials
  const create = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE USER "${user}" WITH PASSWORD '${password}' WITH ALL PRIVILEGES` }) });
  if (!create.ok) throw new Error(`cannot create the admin user: ${await create.text()}`);
  await query('CREATE DATABASE telegraf');
  return {
    url,
    user,
    password,
    query,
    child,
    write: async (db, lines) => {
      const res = await fetch(`${url}/write?db=${db}&precision=ms`, { method: 'POST', headers: { authorization: auth() }, body: lines });
      if (res.status !== 204) throw new Error(`influx write: ${res.status} ${await res.text()}`);
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
