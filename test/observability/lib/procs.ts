// Test helpers shared by the observability services' tests: start REAL daemons (influxd, snmpd) on free ports
// with temp configs, wait for readiness with a deadline, and clean up.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import dgram from 'node:dgram';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20000, stepMs = 100): Promise<T> {
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
  throw new Error(`timed out waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
}

export interface Daemon {
  proc: ChildProcess;
  dir: string;
  stop(): Promise<void>;
  output(): string;
}

function track(proc: ChildProcess): () => string {
  let out = '';
  proc.stdout?.on('data', (d) => (out = (out + d).slice(-20000)));
  proc.stderr?.on('data', (d) => (out = (out + d).slice(-20000)));
  return () => out;
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

export interface Influxd extends Daemon {
  url: string;
  port: number;
  /** (Re)start on the same port and data dir (for outage tests). */
  start(): Promise<void>;
  /** Stop the process but keep the data dir (for outage tests); stop() also removes it. */
  kill(): Promise<void>;
  query(q: string, db?: string): Promise<any>;
}

/** A real Debian influxd (1.6) on a free loopback port with a temp data dir. */
export async function startInfluxd(): Promise<Influxd> {
  const dir = mkdtempSync(join(tmpdir(), 'obs-influx-'));
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
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
[logging]
  level = "warn"
`,
  );
  const url = `http://127.0.0.1:${port}`;
  const d: Influxd = {
    proc: undefined as unknown as ChildProcess,
    dir,
    url,
    port,
    output: () => '',
    async start() {
      const proc = spawn('influxd', ['run', '-config', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      d.proc = proc;
      d.output = track(proc);
      await waitFor('influxd ping', async () => {
        if (proc.exitCode !== null) throw new Error(`influxd exited: ${d.output()}`);
        const r = await fetch(`${url}/ping`);
        return r.status === 204;
      });
    },
    async kill() {
      await stopProc(d.proc);
    },
    async stop() {
      await stopProc(d.proc);
      rmSync(dir, { recursive: true, force: true });
    },
    async query(q: string, db = 'telegraf') {
      const r = await fetch(`${url}/query?db=${encodeURIComponent(db)}&epoch=ms&q=${encodeURIComponent(q)}`);
      const j = (await r.json()) as any;
      if (j.error) throw new Error(j.error);
      if (j.results?.[0]?.error) throw new Error(j.results[0].error);
      return j;
    },
  };
  await d.start();
  return d;
}

/** Flattens an InfluxQL answer into rows of {name, tags, ...columns}. */
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

export interface Snmpd extends Daemon {
  port: number;
  community: string;
}

/** A real snmpd on a free UDP loopback port, v2c read-only community limited to a read-only view. */
export async function startSnmpd(community = 'obs-test-community'): Promise<Snmpd> {
  const dir = mkdtempSync(join(tmpdir(), 'obs-snmpd-'));
  const port = await freeUdpPort();
  const conf = join(dir, 'snmpd.conf');
  writeFileSync(
    conf,
    `view systemonly included .1.3.6.1.2.1.1
view systemonly included .1.3.6.1.4.1.2021
rocommunity ${community} 127.0.0.1 -V systemonly
sysName obs-test-node
sysLocation obs-test-rack
disk / 10000
`,
  );
  const proc = spawn('/usr/sbin/snmpd', ['-f', '-Lo', '-C', '-c', conf, '-p', join(dir, 'pid'), '-M', '/usr/share/snmp/mibs', `udp:127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SNMPCONFPATH: dir, MIBS: '' },
  });
  const output = track(proc);
  const d: Snmpd = {
    proc,
    dir,
    port,
    community,
    output,
    async stop() {
      await stopProc(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await waitFor('snmpd answering', async () => {
    if (proc.exitCode !== null) throw new Error(`snmpd exited: ${output()}`);
    // readiness: the UDP port is bound by snmpd (a bind attempt fails)
    return new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(true));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(false)));
    });
  });
  return d;
}

export { readFileSync, existsSync };
