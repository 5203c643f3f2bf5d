// Real nginx / redis / haproxy / PostgreSQL processes on free loopback ports for the collector tests.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, chownSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { freePort, waitFor } from '../../../test/observability/lib/procs.js';

export interface Proc {
  port: number;
  extra?: Record<string, number>;
  stop(): Promise<void>;
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

function kill(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

function spawnLogged(cmd: string, args: string[]): { p: ChildProcess; out: () => string } {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  return { p, out: () => out };
}

export async function startNginx(): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'obs-nginx-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; user root; pid ${dir}/nginx.pid; error_log stderr warn; worker_processes 1;
events { worker_connections 64; }
http {
  access_log off; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f;
  uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  server { listen 127.0.0.1:${port}; location = /stub_status { stub_status; } location / { return 200 "ok"; } }
}`,
  );
  const { p, out } = spawnLogged('/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir]);
  await waitFor('nginx', async () => {
    if (p.exitCode !== null) throw new Error(out());
    return tcpOpen(port);
  });
  return { port, stop: async () => { await kill(p); rmSync(dir, { recursive: true, force: true }); } };
}

export async function startRedis(password: string): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'obs-redis-'));
  const port = await freePort();
  const { p, out } = spawnLogged('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--requirepass', password]);
  await waitFor('redis', async () => {
    if (p.exitCode !== null) throw new Error(out());
    return tcpOpen(port);
  });
  return { port, stop: async () => { await kill(p); rmSync(dir, { recursive: true, force: true }); } };
}

export async function startHaproxy(backendPort: number): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'obs-haproxy-'));
  const port = await freePort();
  const front = await freePort();
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    `global
  log stderr format raw local0 warning
defaults
  mode tcp
  timeout connect 2s
  timeout client 30s
  timeout server 30s
listen stats
  bind 127.0.0.1:${port}
  mode http
  stats enable
  stats uri /stats
listen redis
  bind 127.0.0.1:${front}
  server redis1 127.0.0.1:${backendPort} check inter 1s
`,
  );
  const { p, out } = spawnLogged('/usr/sbin/haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db']);
  await waitFor('haproxy', async () => {
    if (p.exitCode !== null) throw new Error(out());
    return tcpOpen(port);
  });
  return { port, extra: { front }, stop: async () => { await kill(p); rmSync(dir, { recursive: true, force: true }); } };
}

export async function startPostgres(): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'obs-pg-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(dir, uid, gid);
  chownSync(data, uid, gid);
  const port = await freePort();
  const bin = '/usr/lib/postgresql/15/bin';
  execFileSync('runuser', ['-u', 'postgres', '--', `${bin}/initdb`, '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'], { stdio: 'ignore' });
  execFileSync('runuser', ['-u', 'postgres', '--', `${bin}/pg_ctl`, '-D', data, '-l', join(dir, 'log'), '-w', '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'], { stdio: 'ignore' });
  return {
    port,
    stop: async () => {
      try {
        execFileSync('runuser', ['-u', 'postgres', '--', `${bin}/pg_ctl`, '-D', data, '-m', 'immediate', 'stop'], { stdio: 'ignore' });
      } catch { /* already stopped */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
