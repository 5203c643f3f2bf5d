/**
 * Misago clients take `csrftoken` from the first page they load. The edge's own config (configs/nginx/nginx.conf and
 * forum.conf, paths moved into a temp dir) runs on Debian's NGINX in front of the real API; curl, a client nobody here
 * wrote, loads a page of the web client, then logs in and starts a thread with the token NGINX handed out.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startProcess, type Proc } from '@forum/test-support';
import { freePort, SERVICE_DIR, startApi, startStack, waitFor, type InProcessApi, type Stack } from './support/env.js';

const run = promisify(execFile);
const CONFIGS = join(SERVICE_DIR, '..', '..', 'configs', 'nginx');

let stack: Stack;
let api: InProcessApi;
let nginx: Proc;
let dir: string;
let edge: string;

/** The edge's NGINX configs with their absolute paths moved under `dir`. */
function renderConfigs(port: number, tlsPort: number, statusPort: number, apiPort: number): string {
  for (const d of ['run', 'tmp', 'www', 'conf.d', 'blocklist', 'secrets']) mkdirSync(join(dir, d), { recursive: true });
  // the tls_cert/tls_key secrets: a certificate for 127.0.0.1, its own issuer (curl trusts exactly it)
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'secrets', 'tls_key'),
      '-out',
      join(dir, 'secrets', 'tls_cert'),
    ],
    { stdio: 'ignore' },
  );
  writeFileSync(join(dir, 'run', 'https-redirect.conf'), `set $https_suffix ":${tlsPort}";\n`);
  writeFileSync(join(dir, 'www', 'index.html'), '<!doctype html><title>forum</title>');
  writeFileSync(join(dir, 'run', 'api-upstream.conf'), `server 127.0.0.1:${apiPort};\n`);
  writeFileSync(join(dir, 'blocklist', 'blocklist.conf'), '');
  writeFileSync(join(dir, 'run', 'access-log.conf'), 'access_log off;\n');
  // the rate-limit files as the image's entrypoint renders them (its defaults: nothing exempt)
  execFileSync('bash', [join(CONFIGS, '../../images/nginx/rate-limits.sh')], { env: { PATH: process.env.PATH, RATE_LIMITS_DIR: join(dir, 'run') } });
  const main = readFileSync(join(CONFIGS, 'nginx.conf'), 'utf8')
    .replace('worker_processes auto;', 'worker_processes 1;')
    .replace('/run/nginx/nginx.pid', join(dir, 'run', 'nginx.pid'))
    .replaceAll('/tmp/nginx/', `${join(dir, 'tmp')}/`)
    .replace('/etc/nginx/snippets/realip.conf', join(CONFIGS, 'realip.conf'))
    .replace('/run/nginx/access-log.conf', join(dir, 'run', 'access-log.conf'))
    .replace('/var/run/nginx-blocklist/blocklist.conf', join(dir, 'blocklist', 'blocklist.conf'))
    .replace('/etc/nginx/conf.d/*.conf', join(dir, 'conf.d', '*.conf'));
  const forum = readFileSync(join(CONFIGS, 'forum.conf'), 'utf8')
    .replace('listen 80 default_server;', `listen 127.0.0.1:${port} default_server;`)
    .replace('listen 443 ssl default_server;', `listen 127.0.0.1:${tlsPort} ssl default_server;`)
    .replaceAll('/run/secrets/', `${join(dir, 'secrets')}/`)
    // `http2 on;` needs NGINX 1.25.1+ (the image has 1.26; Debian 12's host NGINX is 1.22): this test is about the
    // CSRF cookie, HTTP/2 is checked on the real edge (test/e2e/09-tls.test.ts)
    .replace(/^\s*http2 on;\n/m, '')
    .replace('listen 8081;', `listen 127.0.0.1:${statusPort};`)
    .replace('root /usr/share/forum/www;', `root ${join(dir, 'www')};`)
    .replaceAll('/run/nginx/', `${join(dir, 'run')}/`)
    .replace('access_log /dev/stdout json;', 'access_log off;');
  writeFileSync(join(dir, 'conf.d', 'forum.conf'), forum);
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, main.replace('access_log /dev/stdout json;', 'access_log off;'));
  return conf;
}

before(async () => {
  stack = await startStack();
  api = await startApi(stack.env);
  dir = mkdtempSync(join(tmpdir(), 'forum-edge-csrf-'));
  chmodSync(dir, 0o755);
  const [port, tlsPort, statusPort] = [await freePort(), await freePort(), await freePort()];
  const conf = renderConfigs(port, tlsPort, statusPort, Number(new URL(api.url).port));
  const user = process.getuid?.() === 0 ? 'user root root; ' : '';
  const args = ['-c', conf, '-e', 'stderr', '-g', `${user}daemon off;`];
  await run('/usr/sbin/nginx', ['-t', ...args]).catch((err: { stderr?: string }) => {
    throw new Error(`nginx -t: ${err.stderr ?? String(err)}`);
  });
  nginx = startProcess('/usr/sbin/nginx', args);
  edge = `https://127.0.0.1:${tlsPort}`;
  // keepalived's check stays on plain HTTP
  await waitFor(
    `nginx (${nginx.output().slice(-300)})`,
    async () => (await fetch(`http://127.0.0.1:${port}/nginx-health`).catch(() => undefined))?.status === 200,
  );
});
after(async () => {
  await nginx?.stop();
  await api?.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function curl(args: string[]): Promise<{ status: number; headers: string; body: string }> {
  const { stdout } = await run('curl', ['-sS', '--cacert', join(dir, 'secrets', 'tls_cert'), '-D', '-', '-o', '-', '-w', '\n%{http_code}', ...args]);
  const status = Number(stdout.slice(stdout.lastIndexOf('\n') + 1));
  const text = stdout.slice(0, stdout.lastIndexOf('\n'));
  const split = text.indexOf('\r\n\r\n');
  return { status, headers: text.slice(0, split), body: text.slice(split + 4) };
}

test('When a client loads a page of the web client, then NGINX sets csrftoken and the API accepts it on the first POST', async () => {
  const jar = join(dir, 'cookies.txt');
  const page = await curl(['-c', jar, `${edge}/`]);
  assert.equal(page.status, 200);
  const set = /^set-cookie: csrftoken=([0-9a-f]{32}); Path=\/; Max-Age=31536000; SameSite=Lax; Secure\r?$/im.exec(page.headers);
  assert.ok(set, `csrftoken cookie on GET /: ${page.headers}`);
  const token = set[1];

  // a view of the single-page app (a thread URL) too; a valid cookie is kept, not replaced
  assert.match((await curl([`${edge}/t/some-thread/5/`])).headers, /set-cookie: csrftoken=/i);
  assert.doesNotMatch((await curl(['-b', jar, `${edge}/`])).headers, /set-cookie: csrftoken=/i);
  assert.match((await curl(['-b', 'csrftoken=short', `${edge}/`])).headers, /set-cookie: csrftoken=[0-9a-f]{32};/i);

  // the first unsafe requests of the client carry that token: register, then start a thread
  const json = ['-H', 'Content-Type: application/json', '-H', `X-CSRFToken: ${token}`, '-b', jar, '-c', jar];
  const reg = await curl([
    ...json,
    '--data',
    JSON.stringify({ username: 'curluser', email: 'curl@example.com', password: 'curl-password-1' }),
    `${edge}/api/users/`,
  ]);
  assert.equal(reg.status, 200, reg.body);
  // Django rotates the token at sign-in: the client reads the new cookie
  const rotated = /csrftoken\t(\S+)/.exec(readFileSync(jar, 'utf8'))?.[1];
  assert.ok(rotated && rotated !== token, 'the API rotated the token at sign-in');
  const started = await curl([
    ...json.map((a) => (a === `X-CSRFToken: ${token}` ? `X-CSRFToken: ${rotated}` : a)),
    '--data',
    JSON.stringify({ title: 'Posted through the edge', post: 'Started with curl through NGINX.', category: '3', close: 'false', hide: 'false', pin: '0' }),
    `${edge}/api/threads/`,
  ]);
  assert.equal(started.status, 200, started.body);
  assert.match(JSON.parse(started.body).url, /^\/t\/posted-through-the-edge\/\d+\/$/);

  // without the header the API still refuses (the cookie alone proves nothing)
  const forged = await curl(['-H', 'Content-Type: application/json', '-b', `csrftoken=${token}`, '--data', '{}', `${edge}/api/auth/`]);
  assert.equal(forged.status, 403);
});
