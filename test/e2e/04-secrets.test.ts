// No secret value appears in `docker inspect` (services, containers) or in any running container's environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { docker, secretValues, stackContainers, stackServices } from './support.js';

const secrets = secretValues();

test('When the stack is deployed, then the secret files exist', () => {
  const names = secrets.map((s) => s.name);
  for (const n of ['pg_app_password', 'pg_superuser_password', 'redis_password', 'session_secret', 'admin_password', 'ipblock_token']) {
    assert.ok(names.includes(n), n);
  }
});

test('When every service and container is inspected, then no secret value shows', async () => {
  const services = await stackServices();
  const containers = await stackContainers();
  assert.ok(services.length >= 15 && containers.length >= 15);
  const dump = (await docker('service', 'inspect', ...services)) + (await docker('inspect', ...containers));
  for (const s of secrets) assert.ok(!dump.includes(s.value), `${s.name} value leaked into docker inspect`);
  assert.match(dump, /\/run\/secrets\/pg_app_password/, 'secrets are passed as *_FILE paths');
});

test('When the environment of a running container is read, then it holds no secret value', async () => {
  let checked = 0;
  for (const id of await stackContainers()) {
    let env: string;
    try {
      env = await docker('exec', id, 'env');
    } catch {
      continue; // container stopping
    }
    checked++;
    for (const s of secrets) assert.ok(!env.includes(s.value), `${s.name} value in the environment of ${id}`);
  }
  assert.ok(checked >= 15, `checked ${checked} containers`);
});
