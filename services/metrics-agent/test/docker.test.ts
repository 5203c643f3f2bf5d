import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { collectDocker } from '../src/collectors/docker.js';
import { discoverDocker, parseTargetMap, DEFAULT_TARGETS } from '../src/discovery.js';
import { waitFor } from '@forum/test-support';
import { isInt } from '@forum/shared/influx';

test('When real Docker is read, then each container has cpu, mem and net with its swarm service label, and targets on the node are discovered', async (t) => {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const img = (await docker.listImages()).flatMap((i) => i.RepoTags ?? []).find((x) => x.startsWith('debian:trixie')) ?? 'debian:trixie-slim';
  const stack = `madtest${process.pid}`;
  const c = await docker.createContainer({
    name: `${stack}-nginx`,
    Image: img,
    Cmd: ['sleep', '120'],
    Labels: { 'com.docker.swarm.service.name': `${stack}_nginx`, 'com.docker.stack.namespace': stack },
  });
  t.after(async () => {
    await c.remove({ force: true }).catch(() => undefined);
  });
  await c.start();
  const ip = (await c.inspect()).NetworkSettings.Networks.bridge.IPAddress;

  const targets = await waitFor('discovered', async () => {
    const ts = await discoverDocker(docker, parseTargetMap(DEFAULT_TARGETS), ['bridge'], stack);
    return ts.length ? ts : undefined;
  });
  assert.deepEqual(targets, [{ service: 'nginx', kind: 'stub_status', port: 8081, path: '/nginx_status', address: ip }]);
  assert.deepEqual(await discoverDocker(docker, parseTargetMap(DEFAULT_TARGETS), ['bridge'], `other${process.pid}`), [], 'other stacks are not scraped');

  await collectDocker(docker, 10000, stack);
  const points = await collectDocker(docker, 10000, stack);
  assert.ok(
    points.filter((p) => p.measurement === 'docker_container_cpu').every((p) => p.tags.container_name === `${stack}-nginx`),
    'only our stack',
  );
  const mine = points.filter((p) => p.tags.container_name === `${stack}-nginx`);
  assert.deepEqual(mine.map((p) => p.measurement).sort(), ['docker_container_cpu', 'docker_container_mem', 'docker_container_net']);
  for (const p of mine) assert.equal(p.tags['com.docker.swarm.service.name'], `${stack}_nginx`);
  const mem = mine.find((p) => p.measurement === 'docker_container_mem')!;
  assert.ok(isInt(mem.fields.usage) && Number(mem.fields.usage) > 0, 'usage is an integer field');
  assert.equal(typeof mine.find((p) => p.measurement === 'docker_container_cpu')!.fields.usage_percent, 'number');
  const dockerPoint = points.find((p) => p.measurement === 'docker')!;
  assert.ok(Number(dockerPoint.fields.n_containers_running) >= 1);
});
