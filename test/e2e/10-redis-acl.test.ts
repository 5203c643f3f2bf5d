// Redis least privilege on the deployed stack: one ACL user per job (images/redis/entrypoint.sh), protected-mode on,
// and each service holding only its own user's secret. Driven with redis-cli from a Redis task, which holds every
// user's secret, against redis-proxy (the path the app takes), a node and a Sentinel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerOf, docker, STACK, stackServices, until } from './support.js';

const NODES = ['redis-0', 'redis-1', 'redis-2'];
const SECRET: Record<string, string> = {
  default: 'redis_password',
  app: 'redis_app_password',
  replication: 'redis_replication_password',
  sentinel: 'redis_sentinel_password',
  metrics: 'redis_metrics_password',
};

/** redis-cli in container `c` against host:port as `user` (password on stdin from that user's secret file); the
 * reply or error text, whatever the exit status */
async function as(c: string, user: string | undefined, host: string, port: number, ...cmd: string[]): Promise<string> {
  const script = user
    ? 'u=$0 f=$1 h=$2 p=$3; shift 3; redis-cli --user "$u" --askpass --no-auth-warning -h "$h" -p "$p" "$@" </run/secrets/$f 2>&1'
    : 'u=$0 f=$1 h=$2 p=$3; shift 3; redis-cli --no-auth-warning -h "$h" -p "$p" "$@" 2>&1';
  const args = [user ?? '-', user ? SECRET[user] : '-', host, String(port), ...cmd];
  return (await docker('exec', c, 'sh', '-c', `${script} || true`, ...args)).trim();
}

test('When the Redis tier runs, then every node defines exactly the per-job users, with protected-mode on', async () => {
  const c = await containerOf('redis-0');
  for (const n of NODES) {
    let users = '';
    await until(`${n} answers ACL USERS`, async () => /\bapp\b/.test((users = await as(c, 'default', n, 6379, 'ACL', 'USERS'))));
    assert.deepEqual(users.split('\n').sort(), ['app', 'default', 'metrics', 'replication', 'sentinel'], `${n}: ${users}`);
    assert.equal(await as(c, 'default', n, 6379, 'CONFIG', 'GET', 'protected-mode'), 'protected-mode\nyes', n);
    assert.equal(await as(c, 'default', n, 6379, 'CONFIG', 'GET', 'masteruser'), 'masteruser\nreplication', n);
  }
  // replicas are in sync as `replication`: the master lists two online replicas
  await until('two online replicas', async () => (await as(c, 'default', 'redis-proxy', 6379, 'INFO', 'replication')).includes('connected_slaves:2'));
});

test('When a client connects without the right password, then Redis and Sentinel refuse it', async () => {
  const c = await containerOf('redis-0');
  assert.match(await as(c, undefined, 'redis-proxy', 6379, 'GET', 'x'), /NOAUTH/);
  assert.match(await as(c, undefined, 'redis-1', 6379, 'PING'), /NOAUTH/);
  assert.match(await as(c, undefined, 'sentinel', 26379, 'SENTINEL', 'masters'), /NOAUTH/);
  // the app's user with the metrics password
  const wrong = await docker(
    'exec',
    c,
    'sh',
    '-c',
    'redis-cli --user app --askpass --no-auth-warning -h redis-proxy ping </run/secrets/redis_metrics_password 2>&1 || true',
  );
  assert.match(wrong, /WRONGPASS|invalid username-password/i);
});

test('When each user runs commands outside its job, then Redis answers NOPERM, and its own commands work', async () => {
  const c = await containerOf('redis-0');
  const key = `acl-test:${Date.now()}`;
  // app: data commands through the proxy, as the api does
  assert.equal(await as(c, 'app', 'redis-proxy', 6379, 'SET', key, 'v', 'EX', '60'), 'OK');
  assert.equal(await as(c, 'app', 'redis-proxy', 6379, 'GET', key), 'v');
  assert.match(await as(c, 'app', 'redis-proxy', 6379, 'INFO', 'server'), /redis_version:/, 'INFO (ioredis ready check)');
  for (const cmd of [
    ['CONFIG', 'SET', 'maxmemory', '1'],
    ['FLUSHALL'],
    ['KEYS', '*'],
    ['ACL', 'LIST'],
    ['REPLICAOF', 'NO', 'ONE'],
    ['CLIENT', 'LIST'],
    ['SHUTDOWN', 'NOSAVE'],
    ['MONITOR'],
  ]) {
    assert.match(await as(c, 'app', 'redis-proxy', 6379, ...cmd), /NOPERM/, `app: ${cmd.join(' ')}`);
  }
  // metrics and sentinel read INFO; none of replication, metrics, sentinel reads or writes data
  assert.match(await as(c, 'metrics', 'redis-proxy', 6379, 'INFO', 'replication'), /role:master/);
  // Sentinel's user talks to the nodes only: the proxy refuses it (images/haproxy/haproxy.cfg says why)
  assert.match(await as(c, 'sentinel', '127.0.0.1', 6379, 'INFO', 'replication'), /role:(master|slave)/);
  assert.match(await as(c, 'sentinel', 'redis-proxy', 6379, 'INFO', 'replication'), /closed the connection|I\/O error/);
  assert.match(await as(c, 'app', 'redis-proxy', 6379, 'PING'), /PONG/, 'app after a refused sentinel connection');
  for (const user of ['metrics', 'replication', 'sentinel']) {
    const host = user === 'sentinel' ? '127.0.0.1' : 'redis-proxy';
    assert.match(await as(c, user, host, 6379, 'GET', key), /NOPERM/, `${user}: GET`);
    assert.match(await as(c, user, host, 6379, 'SET', key, 'x'), /NOPERM/, `${user}: SET`);
  }
  assert.match(await as(c, 'metrics', 'redis-proxy', 6379, 'CONFIG', 'GET', 'requirepass'), /NOPERM/);
  // Sentinel's own password opens Sentinel
  assert.match(await as(c, undefined, 'sentinel', 26379, 'PING'), /NOAUTH/);
  const master = await docker(
    'exec',
    c,
    'sh',
    '-c',
    'redis-cli --askpass --no-auth-warning -h sentinel -p 26379 sentinel get-master-addr-by-name mymaster </run/secrets/redis_sentinel_password',
  );
  assert.match(master, /^\d+\.\d+\.\d+\.\d+\n6379/);
});

test('When the services are inspected, then each holds only its own Redis user secret', async () => {
  const expected: Record<string, string[]> = {
    'redis-0': Object.values(SECRET).sort(),
    sentinel: ['redis_sentinel_password'],
    'redis-proxy': ['redis_metrics_password'],
    'metrics-agent': ['redis_metrics_password'],
    api: ['redis_app_password'],
    worker: ['redis_app_password'],
    ipblock: ['redis_app_password'],
  };
  const services = await stackServices();
  for (const [svc, want] of Object.entries(expected)) {
    assert.ok(services.includes(`${STACK}_${svc}`), svc);
    const out = await docker('service', 'inspect', `${STACK}_${svc}`, '--format', '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.File.Name}} {{end}}');
    const redisSecrets = out
      .trim()
      .split(/\s+/)
      .filter((s) => s.startsWith('redis_'))
      .sort();
    assert.deepEqual(redisSecrets, want, svc);
  }
  // nothing else holds the operator's default user
  for (const svc of services) {
    if (/_redis-\d$/.test(svc)) continue;
    const out = await docker('service', 'inspect', svc, '--format', '{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.File.Name}} {{end}}');
    assert.ok(!out.split(/\s+/).includes('redis_password'), `${svc} holds redis_password`);
  }
});
