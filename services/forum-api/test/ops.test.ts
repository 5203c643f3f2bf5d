import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { join } from 'node:path';
import { createLogger } from '@forum/shared';
import { Client, spawnEntry, startApi, startRedis, startStack, waitFor, type Child, type Stack } from './support/env.js';
import { migrate } from '../src/migrations.js';
import { createDb } from '../src/db.js';
import { configFor } from './support/env.js';

let stack: Stack;
let secretsDir: string;

before(async () => {
  stack = await startStack();
  secretsDir = mkdtempSync(join(tmpdir(), 'forum-api-secrets-'));
});
after(async () => {
  await stack?.stop();
  rmSync(secretsDir, { recursive: true, force: true });
});

/** The env as the stack passes it: secrets as *_FILE. */
function fileEnv(): Record<string, string> {
  const env: Record<string, string> = { ...stack.env, PORT: '0', METRICS_PORT: '0' };
  for (const k of ['PGPASSWORD', 'REDIS_PASSWORD', 'SESSION_SECRET', 'ADMIN_PASSWORD']) {
    const f = join(secretsDir, k.toLowerCase());
    writeFileSync(f, `${env[k]}\n`);
    delete env[k];
    env[`${k}_FILE`] = f;
  }
  return env;
}

describe('Start-up, migrations and shutdown', () => {
  test('When 3 replicas start at once on an empty database, then migrations run once and all serve', async () => {
    const env = fileEnv();
    const replicas: Child[] = [0, 1, 2].map(() => spawnEntry('main', env));
    try {
      const ports = await Promise.all(replicas.map((r) => r.waitForLine((o) => o.msg === 'forum api listening', 90_000).then((o) => Number(o.port))));
      const appliedBy = replicas.map((r) => r.lines.filter((l) => l.includes('"migration applied"')).length);
      const { MIGRATIONS } = await import('../src/migrations.js');
      assert.deepEqual(
        appliedBy.filter((n) => n > 0),
        [MIGRATIONS.length],
        'exactly one replica applied the migrations, each once',
      );
      const db = createDb(configFor(stack.env));
      try {
        const { MIGRATIONS } = await import('../src/migrations.js');
        assert.equal((await db.rw.query('SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n, MIGRATIONS.length);
        assert.equal((await db.rw.query(`SELECT count(*)::int AS n FROM users WHERE username = 'admin'`)).rows[0].n, 1);
        assert.equal((await db.rw.query('SELECT count(*)::int AS n FROM categories')).rows[0].n, 3);
        // re-running is a no-op
        assert.deepEqual(await migrate(db.rw, createLogger('t', { level: 'silent' })), []);
      } finally {
        await db.close();
      }
      for (const port of ports) {
        const r = await new Client(`http://127.0.0.1:${port}`).get('/healthcheck/ready/');
        assert.equal(r.status, 200);
      }
      // the admin (password from ADMIN_PASSWORD_FILE) can log in on any replica
      const c = new Client(`http://127.0.0.1:${ports[2]}`);
      assert.equal((await c.login('admin', 'admin-password-1')).is_staff, true);
      // the /metrics port is separate from the API port
      const metricsPort = Number((await replicas[0].waitForLine((o) => o.msg === 'metrics listening')).port);
      assert.match(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(), /http_request_duration_seconds/);
      assert.equal((await fetch(`http://127.0.0.1:${ports[0]}/metrics`)).status, 404);
    } finally {
      await Promise.all(replicas.map((r) => r.kill('SIGKILL')));
    }
  });

  test('When SIGTERM arrives during a request, then the request completes and the process exits 0 within 8 s', async () => {
    const api = spawnEntry('main', fileEnv());
    try {
      const port = Number((await api.waitForLine((o) => o.msg === 'forum api listening', 90_000)).port);
      const sock = connect(port, '127.0.0.1');
      let response = '';
      sock.on('data', (d) => (response += d.toString()));
      const token = 'a'.repeat(48);
      const payload = '{"username":"x","password":"y"}';
      await new Promise<void>((r) => sock.once('connect', () => r()));
      sock.write(
        `POST /api/auth/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n` +
          `Cookie: csrftoken=${token}\r\nX-CSRFToken: ${token}\r\nConnection: close\r\n\r\n${payload.slice(0, 5)}`,
      );
      await new Promise((r) => setTimeout(r, 200)); // the request is now in flight (body half sent)
      const started = Date.now();
      const exited = new Promise<number | null>((r) => api.proc.once('exit', (code) => r(code)));
      api.proc.kill('SIGTERM');
      await api.waitForLine((o) => o.msg === 'shutting down: draining in-flight requests');
      sock.write(payload.slice(5));
      await waitFor('response', () => response.includes('\r\n\r\n') && response);
      assert.match(response, /^HTTP\/1.1 400/);
      assert.match(response, /invalid_login/);
      assert.equal(await exited, 0);
      assert.ok(Date.now() - started < 8000, 'exited within 8 s');
    } finally {
      await api.kill('SIGKILL');
    }
  });

  test('When start-up hangs (the migrations lock is never granted), then the worker exits 1 at STARTUP_DEADLINE_MS', async () => {
    // another session holds the migrations' advisory lock: pg_advisory_lock waits without end, as behind a session
    // whose peer died; Swarm must get an exit to restart, not a container that never answers its healthcheck
    const holder = new pg.Client({
      host: stack.env.PGHOST,
      port: Number(stack.env.PGPORT),
      database: stack.env.PGDATABASE,
      user: stack.env.PGUSER,
      password: stack.env.PGPASSWORD,
    });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock(727001)');
      const started = Date.now();
      const child = spawnEntry('worker', { ...stack.env, METRICS_PORT: '0', RUN_MIGRATIONS: 'true', STARTUP_DEADLINE_MS: '2000' });
      const code = await Promise.race([
        new Promise<number | null>((r) => child.proc.once('exit', (c) => r(c))),
        new Promise<string>((r) => setTimeout(() => r('still running after 30 s'), 30_000).unref()),
      ]);
      await child.kill('SIGKILL');
      assert.equal(code, 1);
      assert.ok(Date.now() - started >= 2000, 'not before the deadline');
      assert.ok(
        child.lines.some((l) => l.includes('start-up (STARTUP_DEADLINE_MS) did not finish within 2000 ms')),
        `the reason is logged: ${child.lines.slice(-3).join('\n')}`,
      );
    } finally {
      await holder.end();
    }
  });

  test('When configuration is wrong, then the process exits 1 naming every bad variable', async () => {
    const env = { ...stack.env, SESSION_SECRET: 'short', PGHOST: '', REDIS_URL: 'http://nope' };
    const child = spawnEntry('main', env);
    let stderr = '';
    child.proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.proc.once('exit', (c) => r(c)));
    assert.equal(code, 1);
    assert.match(stderr, /SESSION_SECRET/);
    assert.match(stderr, /PGHOST/);
    assert.match(stderr, /REDIS_URL/);
  });
});

describe('Dependency failures', () => {
  test('When Redis goes away, then readiness fails and requests get 503 (not 500); when it returns, all recover', async () => {
    const redis = await startRedis();
    const env = { ...stack.env, REDIS_URL: `redis://127.0.0.1:${redis.port}`, RUN_MIGRATIONS: 'true' };
    const api = await startApi(env);
    let redis2: Awaited<ReturnType<typeof startRedis>> | undefined;
    try {
      const c = new Client(api.url);
      await c.get('/api/auth/');
      assert.equal((await c.get('/healthcheck/ready/')).status, 200);
      await redis.stop();
      const notReady = await c.get('/healthcheck/ready/');
      assert.equal(notReady.status, 503);
      assert.equal(notReady.body.checks.redis.status, 'FAIL');
      assert.equal(notReady.body.checks.postgres.status, 'OK');
      assert.equal((await c.get('/healthcheck/')).status, 200, 'still alive');
      const login = await c.post('/api/auth/', { username: 'admin', password: 'admin-password-1' });
      assert.equal(login.status, 503, login.text);
      assert.equal(login.body.code, 'service_unavailable');
      // guests' reads do not need Redis
      assert.equal((await c.get('/api/threads/')).status, 200);
      redis2 = await startRedis(redis.port);
      await waitFor('ready again', async () => (await c.get('/healthcheck/ready/')).status === 200, 15_000, 200);
      assert.equal((await c.post('/api/auth/', { username: 'admin', password: 'admin-password-1' })).status, 200);
    } finally {
      await api.close();
      await redis2?.stop();
    }
  });
});
