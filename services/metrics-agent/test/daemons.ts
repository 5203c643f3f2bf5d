// Real nginx / redis / haproxy / PostgreSQL processes on free loopback ports for the collector tests.
import { join } from 'node:path';
import { freePort, startPostgres as pgServer, startProcess, startRedis as redisServer, tcpOpen, tempDir, waitFor, type TempDir } from '@forum/test-support';

export interface Proc {
  port: number;
  extra?: Record<string, number>;
  stop(): Promise<void>;
}

/** Runs a daemon in the foreground, ready when `port` accepts TCP connections; stop() ends it and removes `t`. */
async function daemon(what: string, t: TempDir, port: number, cmd: string, args: string[], extra?: Record<string, number>): Promise<Proc> {
  const p = startProcess(cmd, args, { killAfterMs: 5000 });
  await waitFor(what, async () => {
    if (p.proc.exitCode !== null) throw new Error(p.output());
    return tcpOpen(port);
  });
  return {
    port,
    extra,
    stop: async () => {
      await p.stop();
      t.remove();
    },
  };
}

export async function startNginx(): Promise<Proc> {
  const t = tempDir('obs-nginx-');
  const dir = t.dir;
  const port = await freePort();
  t.file(
    'nginx.conf',
    `daemon off; user root; pid ${dir}/nginx.pid; error_log stderr warn; worker_processes 1;
events { worker_connections 64; }
http {
  access_log off; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f;
  uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  server { listen 127.0.0.1:${port}; location = /stub_status { stub_status; } location / { return 200 "ok"; } }
}`,
    0o644,
  );
  return daemon('nginx', t, port, '/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir]);
}

export async function startRedis(password: string): Promise<Proc> {
  const r = await redisServer({ password, prefix: 'obs-redis-' });
  return { port: r.port, stop: () => r.stop() };
}

export async function startHaproxy(backendPort: number): Promise<Proc> {
  const t = tempDir('obs-haproxy-');
  const port = await freePort();
  const front = await freePort();
  const cfg = t.file(
    'haproxy.cfg',
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
    0o644,
  );
  return daemon('haproxy', t, port, '/usr/sbin/haproxy', ['-f', cfg, '-db'], { front });
}

export async function startPostgres(): Promise<Proc> {
  const pg = await pgServer({ prefix: 'obs-pg-' });
  return { port: pg.port, stop: () => pg.stop() };
}
