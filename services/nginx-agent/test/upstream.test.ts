import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '@forum/shared';
import {
  freePort,
  REPO,
  startIpblock,
  startProcess,
  startRedis,
  tempDir,
  TSX_IMPORT,
  waitFor,
  type Ipblock,
  type Proc,
  type RedisServer,
} from '../../../test/edge/lib/harness.js';
import { ACCESS_LOG_STDOUT, NO_SERVER, renderAccessLog, renderUpstream, UpstreamWatcher } from '../src/upstream.js';

const logger = createLogger('upstream-test');

describe('UpstreamWatcher', () => {
  test('When the name resolves, then its servers are written; when DNS fails, then they are kept; when the name is gone, then a never-tried server is written', async () => {
    const t = tempDir('upstream-');
    const file = join(t.dir, 'api-upstream.conf');
    let answer: () => Promise<string[]> = async () => ['10.0.0.7', '10.0.0.3', '10.0.0.7'];
    const w = new UpstreamWatcher({ name: 'api', port: 8000, file, intervalMs: 1000, logger, reload: () => undefined, resolve: () => answer() });
    try {
      assert.equal(await w.sync(), true);
      assert.equal(readFileSync(file, 'utf8'), renderUpstream(['10.0.0.3', '10.0.0.7'], 8000));
      assert.match(readFileSync(file, 'utf8'), /^server 10\.0\.0\.3:8000 max_fails=1 fail_timeout=5s;\nserver 10\.0\.0\.7:8000/m);
      assert.equal(await w.sync(), false, 'same set: no rewrite, no reload');
      answer = async () => {
        throw Object.assign(new Error('queryA ETIMEOUT api'), { code: 'ETIMEOUT' });
      };
      assert.equal(await w.sync(), false);
      assert.match(readFileSync(file, 'utf8'), /10\.0\.0\.7/, 'a DNS timeout keeps the servers');
      answer = async () => {
        throw Object.assign(new Error('queryA ENOTFOUND api'), { code: 'ENOTFOUND' });
      };
      assert.equal(await w.sync(), true);
      assert.ok(readFileSync(file, 'utf8').includes(NO_SERVER));
    } finally {
      t.remove();
    }
  });
});

describe('nginx-agent upstream with real NGINX', () => {
  let redis: RedisServer;
  let ipblock: Ipblock;
  let api: Server;
  let apiPort: number;
  let agent: Proc | undefined;
  const secrets = tempDir('upstream-secrets-');
  const t = tempDir('upstream-nginx-');
  let connections = 0;

  before(async () => {
    redis = await startRedis();
    ipblock = await startIpblock({ redis, secretsDir: secrets.dir });
    api = createServer((req, res) => res.end(JSON.stringify({ path: req.url })));
    api.keepAliveTimeout = 65_000;
    api.on('connection', () => connections++);
    apiPort = await freePort();
    await new Promise<void>((r) => api.listen(apiPort, '127.0.0.1', r));
  });

  after(async () => {
    agent?.proc.kill('SIGTERM');
    await waitFor('agent exit', async () => agent === undefined || agent.proc.exitCode !== null || agent.proc.signalCode !== null, 10_000).catch(
      () => undefined,
    );
    api?.close();
    await ipblock?.stop();
    await redis?.stop();
    secrets.remove();
    t.remove();
  });

  test('When the agent has resolved the servers, then NGINX proxies to them and keeps its connections open', async () => {
    chmodSync(t.dir, 0o755);
    const port = await freePort();
    const upstreamFile = join(t.dir, 'api-upstream.conf');
    writeFileSync(upstreamFile, `${NO_SERVER}\n`);
    const conf = join(t.dir, 'nginx.conf');
    writeFileSync(
      conf,
      `worker_processes 1;
pid ${t.dir}/nginx.pid;
error_log ${t.dir}/error.log notice;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${t.dir}/body; proxy_temp_path ${t.dir}/proxy; fastcgi_temp_path ${t.dir}/fastcgi;
  uwsgi_temp_path ${t.dir}/uwsgi; scgi_temp_path ${t.dir}/scgi;
  geo $ip_blocked { default 0; include ${t.dir}/blocklist.conf; }
  upstream api_backend { include ${upstreamFile}; keepalive 8; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://api_backend; }
  }
}
`,
    );
    writeFileSync(join(secrets.dir, 'agent-token'), ipblock.token);
    agent = startProcess(
      process.execPath,
      ['--import', TSX_IMPORT, join(REPO, 'services/nginx-agent/src/main.ts'), '--', 'nginx', '-c', conf, '-p', t.dir, '-g', 'daemon off;'],
      {
        cwd: REPO,
        env: {
          PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
          IPBLOCK_URL: ipblock.url,
          IPBLOCK_TOKEN_FILE: join(secrets.dir, 'agent-token'),
          BLOCKLIST_FILE: join(t.dir, 'blocklist.conf'),
          UPSTREAM_NAME: 'localhost',
          UPSTREAM_PORT: String(apiPort),
          UPSTREAM_FILE: upstreamFile,
        },
      },
    );
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: r.status, body: await r.text() };
    };
    await waitFor(`proxied answer: ${agent.output().slice(-400)}`, async () => (await get('/first').catch(() => ({ status: 0 }))).status === 200, 20_000);
    assert.match(readFileSync(upstreamFile, 'utf8'), new RegExp(`^server 127\\.0\\.0\\.1:${apiPort} `, 'm'));
    const before = connections;
    for (let i = 0; i < 50; i++) assert.deepEqual(await get(`/r${i}`), { status: 200, body: JSON.stringify({ path: `/r${i}` }) });
    assert.ok(connections - before <= 2, `50 requests opened ${connections - before} connections to the api (keepalive expected)`);
  });
});

test('When a log-shipper address is known, then access lines go to the first by syslog; when there is none, then to stdout', () => {
  assert.match(renderAccessLog(['10.0.1.9', '10.0.1.4'], 5140), /^access_log syslog:server=10\.0\.1\.4:5140,tag=nginx,severity=info json;$/m);
  assert.match(renderAccessLog([], 5140), new RegExp(`^${ACCESS_LOG_STDOUT.replace(/[.*/]/g, '\\$&')}$`, 'm'));
});
