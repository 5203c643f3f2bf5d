import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DEFERRED_DOCKER_MODULES, dockerClient, loadDockerode } from '../src/docker.js';

// node --test runs each file in its own process: nothing has loaded dockerode or its transports before this
const require = createRequire(import.meta.url);
const loaded = (name: string) => Object.keys(require.cache).some((f) => f.includes(`/node_modules/${name}/`));
const SOCKET = '/var/run/docker.sock';

test('dockerode loads without its SSH and BuildKit transports', () => {
  for (const m of DEFERRED_DOCKER_MODULES) assert.equal(loaded(m), false, `${m} loaded before the test`);
  const Docker = loadDockerode();
  assert.equal(typeof Docker, 'function');
  assert.equal(loaded('dockerode'), true, 'dockerode itself was not loaded');
  assert.equal(loaded('docker-modem'), true, 'docker-modem was not loaded');
  for (const m of DEFERRED_DOCKER_MODULES) assert.equal(loaded(m), false, `${m} was loaded with dockerode`);
  assert.equal(loadDockerode(), Docker, 'a second call loads dockerode again');
});

test('the client talks to the real Docker Engine over its socket', { skip: !existsSync(SOCKET) && `no ${SOCKET}` }, async () => {
  const docker = dockerClient({ socketPath: SOCKET });
  const pong = await docker.ping();
  assert.equal(String(pong), 'OK');
  const version = await docker.version();
  assert.match(version.ApiVersion, /^1\.\d+$/);
  for (const m of DEFERRED_DOCKER_MODULES) assert.equal(loaded(m), false, `${m} was loaded by a socket request`);
});

test('an ssh:// host still gets the real ssh2 transport, loaded on first use', async () => {
  const docker = dockerClient({ protocol: 'ssh', host: '127.0.0.1', port: 1, username: 'nobody' });
  // ssh2 itself connects and fails: the error is the socket's, not "not a constructor" or a missing module
  const err = await docker.ping().then(
    () => assert.fail('ping over ssh to a closed port succeeded'),
    (e: NodeJS.ErrnoException) => e,
  );
  assert.equal(err.code, 'ECONNREFUSED', `unexpected error: ${err.message}`);
  assert.equal(loaded('ssh2'), true, 'ssh2 was not loaded for an ssh:// host');
});
