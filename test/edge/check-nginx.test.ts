// keepalived's track script (images/keepalived/check-nginx.sh) against a real HTTP server whose answers the test
// chooses: a refusal or a 5xx fails at once, one slow answer does not, two slow answers in a row do.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { REPO, tempDir } from './lib/harness.js';

const SCRIPT = join(REPO, 'images/keepalived/check-nginx.sh');
const work = tempDir('edge-check-nginx-');
let mode: 'ok' | 'slow' | '503' = 'ok';
const server = http.createServer((_req, res) => {
  const answer = () => {
    res.statusCode = mode === '503' ? 503 : 200;
    res.end(mode === '503' ? 'draining' : 'ok');
  };
  if (mode === 'slow') setTimeout(answer, 1500);
  else answer();
});
let url = '';

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/edge-health`;
});
after(() => {
  server.closeAllConnections();
  server.close();
  work.remove();
});

/** the script's exit code (asynchronous: the server answers in this same process) */
function check(target = url): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn('bash', [SCRIPT, target, join(work.dir, 'slow')], { stdio: 'ignore' });
    p.on('exit', (code) => resolve(code ?? -1));
  });
}

test('When NGINX answers 2xx, then the check passes', async () => {
  mode = 'ok';
  assert.equal(await check(), 0);
});

test('When one answer is slow, then the check still passes; when the next is slow too, then it fails', async () => {
  mode = 'slow';
  assert.equal(await check(), 0, 'one slow answer must not move the VIP');
  assert.equal(await check(), 1, 'two slow answers in a row: NGINX counts as hung');
  mode = 'ok';
  assert.equal(await check(), 0);
  mode = 'slow';
  assert.equal(await check(), 0, 'a good answer in between starts the count again');
  mode = 'ok';
  assert.equal(await check(), 0);
});

test('When NGINX answers 503 (a drain) or refuses the connection, then the check fails at once', async () => {
  mode = '503';
  assert.equal(await check(), 1);
  assert.equal(await check('http://127.0.0.1:9/edge-health'), 1);
});
