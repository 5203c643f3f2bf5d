import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request, Agent } from 'node:http';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/drain-server.ts', import.meta.url));

function start(deregisterMs: number) {
  const proc = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, DEREGISTER_MS: String(deregisterMs) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`fixture exited ${code} before listening`)));
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, port, exited };
}

function get(port: number, agent: Agent): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('When a service behind a proxy is signalled, then it keeps answering for deregisterMs, each response closing its connection, and exits 0', async () => {
  const s = start(2000);
  try {
    const port = await s.port;
    const agent = new Agent({ keepAlive: true });
    assert.equal((await get(port, agent)).connection, 'keep-alive', 'before the signal connections are kept');
    const signalledAt = Date.now();
    s.proc.kill('SIGTERM');
    // a proxy that has not yet reloaded keeps sending: new connections are still accepted, and closed after the answer
    let served = 0;
    while (Date.now() - signalledAt < 1500) {
      const r = await get(port, agent);
      assert.equal(r.status, 200);
      assert.equal(r.connection, 'close', 'a response during the drain must close its connection');
      served++;
    }
    assert.ok(served > 0);
    assert.equal(await s.exited, 0);
    assert.ok(Date.now() - signalledAt >= 2000, 'stopped listening before deregisterMs');
    await assert.rejects(get(port, new Agent()), /ECONNREFUSED/);
  } finally {
    s.proc.kill('SIGKILL');
  }
});

test('When deregisterMs is 0, then the server stops listening at once', async () => {
  const s = start(0);
  try {
    const port = await s.port;
    s.proc.kill('SIGTERM');
    assert.equal(await s.exited, 0);
    await assert.rejects(get(port, new Agent()), /ECONNREFUSED/);
  } finally {
    s.proc.kill('SIGKILL');
  }
});
