import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import Docker from 'dockerode';
import { pino } from 'pino';
import { freePort, waitFor } from '@forum/test-support';
import { startEsStub, type EsStub } from '../../../test/observability/lib/es-stub.js';
import { apiToEcs, docId, indexFor, nginxAccessToEcs, type Source } from '../src/ecs.js';
import { EsShipper } from '../src/shipper.js';
import { LogFollower, lineSink, normTs } from '../src/follower.js';
import { parseSyslog, SyslogReceiver } from '../src/syslog.js';
import http from 'node:http';
import { PassThrough } from 'node:stream';

const logger = pino({ level: 'silent' });
const src: Source = { containerId: 'c1', containerName: 'forum_nginx.1.abc', service: 'nginx', node: 'node-a' };
let es: EsStub;

before(async () => {
  es = await startEsStub();
});
after(async () => {
  await es?.close();
});

/** Runs a real nginx with the project's own `log_format json` (configs/nginx/nginx.conf) and returns its access lines. */
/**
 * A real NGINX with the edge's `log_format json` (from configs/nginx/nginx.conf): `accessLog` is the access_log
 * target, `server` the server block's body after its listen line. Resolves once it answers.
 */
async function startJsonNginx(accessLog: (dir: string) => string, server: string): Promise<{ url: string; dir: string; stop: () => Promise<void> }> {
  const conf = readFileSync(new URL('../../../configs/nginx/nginx.conf', import.meta.url), 'utf8');
  const m = /log_format json[\s\S]*?';/.exec(conf);
  assert.ok(m, 'configs/nginx/nginx.conf has log_format json');
  const dir = mkdtempSync(join(tmpdir(), 'obs-ls-nginx-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; user root; pid ${dir}/pid; error_log stderr; events {}
http { ${m[0]}
  map $remote_addr $ip_blocked { default 0; }
  access_log ${accessLog(dir)} json; client_body_temp_path ${dir}/b;
  server { listen 127.0.0.1:${port}; ${server} } }`,
  );
  const p: ChildProcess = spawn('/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  const stop = async () => {
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor('nginx', async () => (await fetch(`${url}/`).catch(() => undefined))?.ok);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, dir, stop };
}

async function realNginxLines(): Promise<string[]> {
  const nginx = await startJsonNginx(
    (dir) => `${dir}/access.log`,
    `location = /api/auth/ { return 400 '{"detail":"bad credentials"}'; }
    location / { return 200 "hello"; }`,
  );
  try {
    await fetch(`${nginx.url}/api/threads/?page=2`, {
      headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36', referer: 'http://forum.test/' },
    });
    await fetch(`${nginx.url}/api/auth/`, {
      method: 'POST',
      body: '{"username":"x","password":"y"}',
      headers: { 'content-type': 'application/json' },
    });
    return await waitFor('access log lines', async () => {
      const lines = readFileSync(join(nginx.dir, 'access.log'), 'utf8').trim().split('\n').filter(Boolean);
      return lines.length >= 3 ? lines : undefined;
    });
  } finally {
    await nginx.stop();
  }
}

test('When real NGINX JSON access lines are mapped, then their ECS fields are named exactly as the nginx module of Filebeat names them', async () => {
  const lines = await realNginxLines();
  const get = ecsFor(lines.find((l) => l.includes('/api/threads/'))!);
  assert.equal(get.event.dataset, 'nginx.access');
  assert.equal(get.event.module, 'nginx');
  assert.deepEqual(get.event.category, ['web']);
  assert.deepEqual(get.event.type, ['access']);
  assert.equal(get.event.kind, 'event');
  assert.equal(get.event.outcome, 'success');
  assert.equal(get.fileset.name, 'access');
  assert.equal(get.service.type, 'nginx');
  assert.equal(get.source.ip, '127.0.0.1');
  assert.equal(get.source.address, '127.0.0.1');
  assert.equal(get.http.request.method, 'GET');
  assert.equal(get.http.version, '1.1');
  assert.equal(get.http.request.referrer, 'http://forum.test/');
  assert.equal(get.http.response.status_code, 200);
  assert.equal(typeof get.http.response.body.bytes, 'number');
  assert.equal(get.url.original, '/api/threads/?page=2');
  assert.equal(get.url.path, '/api/threads/');
  assert.equal(get.url.query, 'page=2');
  assert.equal(get.user_agent.name, 'Chrome');
  assert.equal(get.user_agent.version, '120.0.0.0');
  assert.equal(get.user_agent.os.name, 'Linux');
  assert.ok(Number.isInteger(get.event.duration) && get.event.duration >= 0, 'event.duration in ns');
  assert.equal(typeof get.nginx.access.request_time, 'number');
  assert.ok(!Number.isNaN(Date.parse(get['@timestamp'])));
  assert.equal(get.user, undefined, 'no user.name for "-"');

  const post = ecsFor(lines.find((l) => l.includes('/api/auth/'))!);
  // what the brute-force watcher filters on
  assert.equal(post.http.request.method, 'POST');
  assert.equal(post.url.original, '/api/auth/');
  assert.equal(post.http.response.status_code, 400);
  assert.equal(post.event.outcome, 'failure');
});

function ecsFor(line: string): any {
  const d = nginxAccessToEcs(line, src, new Date().toISOString());
  assert.ok(d, `parsed: ${line}`);
  return d;
}

test('When API pino access and app lines are mapped, then they become ECS (forum.api.*) with event.duration in ns', () => {
  const access = apiToEcs(
    JSON.stringify({
      level: 30,
      time: '2026-01-02T03:04:05.000Z',
      service: 'forum-api',
      type: 'access',
      method: 'post',
      url: '/api/auth/?next=/',
      status: 400,
      bytes: 31,
      ip: '203.0.113.7',
      user: null,
      userAgent: 'curl/8.5.0',
      responseTimeMs: 12.5,
      msg: 'request',
    }),
    { ...src, service: 'api' },
    'x',
  ) as any;
  assert.equal(access.event.dataset, 'forum.api.access');
  assert.equal(access.http.request.method, 'POST');
  assert.equal(access.url.path, '/api/auth/');
  assert.equal(access.source.ip, '203.0.113.7');
  assert.equal(access.event.duration, 12_500_000);
  assert.equal(access.user_agent.name, 'curl');
  const app = apiToEcs(
    JSON.stringify({ level: 40, time: 1767323045000, event: 'login_bruteforce', ip: '203.0.113.7', failures: 8, msg: 'brute force' }),
    { ...src, service: 'api' },
    'x',
  ) as any;
  assert.equal(app.log.level, 'warn');
  assert.equal(app.event.action, 'login_bruteforce');
  assert.equal(app.source.ip, '203.0.113.7');
  assert.equal(app.forum.app.failures, 8);
  assert.equal(indexFor('filebeat-forum', '2026-01-02T03:04:05.000Z'), 'filebeat-forum-2026.01.02');
});

test('When lines are shipped in bulk through the real client, then the NDJSON is valid, ids are idempotent, 503 and item 429 are retried and nothing is lost', async () => {
  const shipper = new EsShipper({ node: es.url, logger, batchSize: 50, flushIntervalMs: 50 });
  const base = es.docs.size;
  es.failNext(2, 503); // the client's own retries absorb these
  es.rejectItems(3); // per-item 429s are re-queued
  for (let i = 0; i < 120; i++) {
    const ts = new Date(Date.UTC(2026, 0, 2, 3, 4, i % 60)).toISOString();
    const doc = { '@timestamp': ts, message: `line ${i}`, event: { dataset: 'nginx.access' } };
    shipper.add(indexFor('filebeat-forum', ts), docId(src, ts, `line ${i}`), doc);
  }
  shipper.start();
  await waitFor('all shipped', async () => shipper.stats.shipped === 120 && shipper.stats.buffered === 0, 15000, 50);
  assert.equal(es.docs.size - base, 120);
  assert.deepEqual(es.violations, []);
  assert.ok(es.calls.every((c) => /x-ndjson/.test(c.contentType)));
  // re-shipping the same lines (e.g. after a restart with look-back) creates no duplicates
  for (let i = 0; i < 10; i++) {
    const ts = new Date(Date.UTC(2026, 0, 2, 3, 4, i % 60)).toISOString();
    shipper.add(indexFor('filebeat-forum', ts), docId(src, ts, `line ${i}`), { '@timestamp': ts, message: `line ${i}` });
  }
  await waitFor('duplicates acknowledged', async () => shipper.stats.duplicates === 10, 5000, 50);
  assert.equal(es.docs.size - base, 120);
  await shipper.stop();
});

test('When Elasticsearch is down, then the bounded buffer keeps the newest lines, counts the dropped, and delivers after recovery', async () => {
  const shipper = new EsShipper({ node: es.url, logger, batchSize: 10, bufferLimit: 25, flushIntervalMs: 50, requestTimeoutMs: 1000 });
  es.setDown(true);
  const before = es.docs.size;
  for (let i = 0; i < 40; i++) shipper.add('filebeat-forum-2026.01.03', `down-${i}`, { '@timestamp': '2026-01-03T00:00:00Z', n: i });
  await shipper.flush();
  assert.ok(shipper.stats.bulkErrors >= 1);
  assert.equal(shipper.stats.dropped, 15);
  assert.equal(shipper.stats.buffered, 25);
  es.setDown(false);
  shipper.start();
  await waitFor('delivered', async () => shipper.stats.buffered === 0, 15000, 50);
  const got = [...es.docs.values()]
    .filter((d) => d.index === 'filebeat-forum-2026.01.03')
    .map((d) => d.source.n)
    .sort((a, b) => a - b);
  assert.equal(es.docs.size - before, 25);
  assert.deepEqual(
    got,
    Array.from({ length: 25 }, (_, i) => i + 15),
    'the oldest 15 were dropped',
  );
  await shipper.stop();
});

test('When a real container logs, then its stream is followed through the Docker API and its NGINX lines are shipped', async (t) => {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const img = (await docker.listImages()).flatMap((i) => i.RepoTags ?? []).find((x) => x.startsWith('debian:trixie')) ?? 'debian:trixie-slim';
  const line = JSON.stringify({
    time: '2026-01-04T00:00:00+00:00',
    remote_addr: '203.0.113.9',
    remote_user: '',
    request_method: 'POST',
    request_uri: '/api/auth/',
    server_protocol: 'HTTP/1.1',
    status: 400,
    body_bytes_sent: 30,
    request_time: 0.004,
    http_user_agent: 'curl/8.5.0',
    ip_blocked: '0',
  });
  const name = `lstest-nginx-${process.pid}`;
  const c = await docker.createContainer({
    name,
    Image: img,
    // then a `tick` a second: a follow stream attached while the first lines were being written can wait for the
    // engine's next write before it delivers them (seen under CI load: nothing in 60 s); the ticks are not counted
    Cmd: ['sh', '-c', `i=0; while [ $i -lt 5 ]; do echo '${line}'; echo 'not json at all' >&2; i=$((i+1)); done; while :; do sleep 1; echo tick; done`],
    Labels: { 'com.docker.swarm.service.name': 'lstest_nginx', 'com.docker.stack.namespace': 'lstest' },
    HostConfig: { AutoRemove: false },
  });
  t.after(async () => {
    await c.remove({ force: true }).catch(() => undefined);
  });
  await c.start();
  const got: Array<{ line: string; stream: string; ts: string }> = [];
  const f = new LogFollower(
    docker,
    ['nginx'],
    () => 'node-a',
    (l, ts, s, stream) => {
      assert.equal(s.service, 'nginx');
      if (l !== 'tick') got.push({ line: l, stream, ts });
    },
    logger,
    { scanMs: 200, lookbackSeconds: 60, stack: 'lstest' },
  );
  await f.start();
  t.after(() => f.stop());
  await waitFor('10 lines', async () => got.length >= 10, 60_000).catch((e: Error) => {
    // a deadline, not a wait: on a loaded host, starting the container and its log stream can take > 15 s
    throw new Error(`${e.message}; got ${got.map((g) => `${g.stream} ${g.ts}`).join(', ')}`);
  });
  assert.equal(got.filter((g) => g.stream === 'stdout').length, 5);
  assert.equal(got.filter((g) => g.stream === 'stderr').length, 5);
  assert.ok(
    got.every((g) => /^\d{4}-\d\d-\d\dT.*\.\d{9}Z$/.test(g.ts)),
    'docker timestamps normalised',
  );
  const doc = nginxAccessToEcs(got.find((g) => g.stream === 'stdout')!.line, { ...src, service: 'nginx' }, got[0].ts) as any;
  assert.equal(doc.source.ip, '203.0.113.9');
  assert.equal(normTs('2026-01-01T00:00:00.1Z') > normTs('2026-01-01T00:00:00.09Z'), true);
});

test('When Docker frames split across chunks and UTF-8 splits across frames, then the line sinks rebuild whole lines with stdout and stderr apart', () => {
  const got: string[] = [];
  const src = new PassThrough();
  new Docker().modem.demuxStream(
    src,
    lineSink('stdout', (l, s) => got.push(`${s}:${l}`)),
    lineSink('stderr', (l, s) => got.push(`${s}:${l}`)),
  );
  const frame = (type: number, payload: Buffer) => {
    const header = Buffer.alloc(8); // [stream, 0, 0, 0, length BE32]
    header[0] = type;
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  };
  const euro = Buffer.from('€'); // 3 bytes, split between two frames
  const all = Buffer.concat([
    frame(1, Buffer.concat([Buffer.from('a 1\r\nb '), euro.subarray(0, 1)])),
    frame(2, Buffer.from('oops\n')),
    frame(1, Buffer.concat([euro.subarray(1), Buffer.from('2\n\npartial')])),
  ]);
  for (let i = 0; i < all.length; i += 5) src.write(all.subarray(i, i + 5)); // headers and payloads cut anywhere
  assert.deepEqual(got, ['stdout:a 1', 'stderr:oops', 'stdout:b €2']);
});

test('When NGINX sends access lines over UDP syslog, then each request is one line, with the api-named user, from the identified container', async () => {
  const got: Array<{ line: string; src: Source }> = [];
  const asked: string[] = [];
  const rx = new SyslogReceiver({
    port: 0,
    service: 'nginx',
    node: () => 'node-a',
    identify: async (host) => {
      asked.push(host);
      await new Promise((r) => setTimeout(r, 50)); // lines that arrive meanwhile wait, in order
      return { id: `${host}-full-id`, name: 'forum_nginx.1.abc' };
    },
    onLine: (line, _ts, s) => got.push({ line, src: s }),
    logger,
  });
  await rx.start();
  // the api stand-in names the user as forum-api does (X-Forum-User), which NGINX logs and hides
  const api = http.createServer((req, res) => {
    if (req.url?.startsWith('/api/user/')) res.setHeader('X-Forum-User', 'alice');
    res.end('{}');
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  const apiPort = (api.address() as { port: number }).port;
  const nginx = await startJsonNginx(
    () => `syslog:server=127.0.0.1:${rx.port},tag=nginx,severity=info`,
    `proxy_hide_header X-Forum-User;
    location / { proxy_pass http://127.0.0.1:${apiPort}; }`,
  );
  try {
    const res = await fetch(`${nginx.url}/api/user/1/`);
    assert.equal(res.headers.get('x-forum-user'), null, 'the user header does not reach the client');
    for (let i = 0; i < 20; i++) await fetch(`${nginx.url}/api/threads/?n=${i}`);
    const lines = await waitFor('syslog lines', async () => (got.filter((g) => g.line.includes('/api/')).length >= 21 ? got : undefined));
    const apiLines = lines.filter((g) => g.line.includes('/api/'));
    assert.equal(apiLines.length, 21, 'one line per request');
    assert.equal(asked.length, 1, 'the container is looked up once');
    assert.ok(apiLines.every((g) => g.src.containerId.endsWith('-full-id') && g.src.containerName === 'forum_nginx.1.abc' && g.src.service === 'nginx'));
    const user = nginxAccessToEcs(apiLines.find((g) => g.line.includes('/api/user/'))!.line, apiLines[0].src, new Date().toISOString()) as any;
    assert.equal(user.user.name, 'alice');
    assert.match(user.http.request.id, /^[0-9a-f]{32}$/);
    const order = apiLines.filter((g) => g.line.includes('/api/threads/')).map((g) => Number(/n=(\d+)/.exec(g.line)![1]));
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      'lines keep their order while the container is looked up',
    );
  } finally {
    await nginx.stop();
    rx.stop();
    api.close();
  }
});

test('When parseSyslog reads the BSD format NGINX sends, then it finds the host, the tag and the message', () => {
  assert.deepEqual(parseSyslog('<190>Dec  3 12:31:47 0123456789ab nginx: {"a":1}'), { host: '0123456789ab', tag: 'nginx', msg: '{"a":1}' });
  assert.deepEqual(parseSyslog('<190>Dec 13 02:01:07 host nginx: x: y\n'), { host: 'host', tag: 'nginx', msg: 'x: y' });
  assert.equal(parseSyslog('not syslog'), undefined);
});
