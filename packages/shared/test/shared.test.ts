import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import {
  loadConfig,
  ConfigError,
  readSecret,
  z,
  env,
  createBaseApp,
  createLogger,
  AppError,
  dependencyError,
  safeEqual,
  requireBearer,
  slackBody,
  type Dependency,
} from '@forum/shared';

const dir = mkdtempSync(join(tmpdir(), 'shared-'));
const secretFile = join(dir, 'db_password');
writeFileSync(secretFile, 's3cret\n');

test('When a secret comes as NAME_FILE, then its trimmed file content is used', () => {
  assert.equal(readSecret('DB_PASSWORD', { DB_PASSWORD_FILE: secretFile }), 's3cret');
});

test('When both NAME and NAME_FILE are set, then config refuses to start', () => {
  assert.throws(() => readSecret('DB_PASSWORD', { DB_PASSWORD: 'x', DB_PASSWORD_FILE: secretFile }), /both DB_PASSWORD and DB_PASSWORD_FILE/);
});

test('When several variables are bad, then every problem is reported at once', () => {
  const shape = { PORT: env.int(), DB_HOST: z.string().min(1), DB_PASSWORD: z.string().min(1) };
  try {
    loadConfig(shape, { secrets: ['DB_PASSWORD'], env: { PORT: 'abc', DB_PASSWORD_FILE: '/nonexistent' } });
    assert.fail('expected ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const msg = (err as Error).message;
    assert.match(msg, /DB_PASSWORD_FILE=\/nonexistent cannot be read/);
    assert.match(msg, /PORT/);
    assert.match(msg, /DB_HOST/);
  }
});

test('When a body is malformed JSON, then the base app answers 400 parse_error, not 500', async () => {
  const logger = createLogger('test', { level: 'silent' });
  const { app, finish } = createBaseApp({ service: 'test', logger });
  app.post('/x/', (_req, res) => res.json({ ok: true }));
  app.get('/boom/', () => {
    throw new AppError('teapot', 418, 'I am a teapot');
  });
  finish(app);
  const r = await request(app).post('/x/').set('content-type', 'application/json').send('{"a":');
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'parse_error');
  const b = await request(app).get('/boom/');
  assert.deepEqual([b.status, b.body.code], [418, 'teapot']);
  const h = await request(app).get('/healthcheck/');
  assert.deepEqual(h.body, { status: 'OK' });
  const m = await request(app).get('/nope/');
  assert.equal(m.status, 404);
});

test('When a dependency fails, then only a service that declares it answers by status, and its 503s carry Retry-After', async () => {
  const logger = createLogger('test', { level: 'silent' });
  const redisDown = () => Object.assign(new Error('Connection is closed.'), { name: 'Error' });
  const pgRefused = () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.9:5432'), { code: 'ECONNREFUSED' });
  const pgUnique = () => Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
  const answers = async (dependencies?: Dependency[]) => {
    const { app, finish } = createBaseApp({ service: 'test', logger, dependencies });
    app.get('/redis/', () => {
      throw redisDown();
    });
    app.get('/refused/', () => {
      throw pgRefused();
    });
    app.get('/unique/', () => {
      throw pgUnique();
    });
    finish(app);
    const out: Array<[number, string, string | undefined]> = [];
    for (const path of ['/redis/', '/refused/', '/unique/']) {
      const r = await request(app).get(path);
      out.push([r.status, r.body.code, r.headers['retry-after']]);
    }
    return out;
  };
  assert.deepEqual(await answers(), [
    [500, 'internal_error', undefined],
    [503, 'service_unavailable', undefined],
    [500, 'internal_error', undefined],
  ]);
  assert.deepEqual(await answers(['postgres', 'redis']), [
    [503, 'service_unavailable', '2'],
    [503, 'service_unavailable', '2'],
    [409, 'conflict', undefined],
  ]);
  assert.equal(dependencyError(new TypeError('a bug'), ['postgres', 'redis']), undefined);
});

test('When a bearer token is wrong or missing, then 401; when right, then through', async () => {
  assert.ok(safeEqual('abc', 'abc'));
  assert.ok(!safeEqual('abc', 'abd'));
  const logger = createLogger('test', { level: 'silent' });
  const { app, finish } = createBaseApp({ service: 'test', logger });
  app.get('/p/', requireBearer('tok'), (_req, res) => res.json({ ok: true }));
  finish(app);
  assert.equal((await request(app).get('/p/')).status, 401);
  assert.equal((await request(app).get('/p/').set('authorization', 'Bearer nope')).status, 401);
  assert.equal((await request(app).get('/p/').set('authorization', 'Bearer tok')).status, 200);
});

test('When a Slack message is built, then its body carries text, blocks and a coloured attachment', () => {
  const b = slackBody({ text: 'hi', color: 'danger', fields: { a: 1 } });
  assert.equal(b.text, 'hi');
  assert.equal(b.attachments[0].color, 'danger');
  assert.equal(b.blocks.length, 1);
});
