// Replica sampling and fault injection against the real Swarm on this machine, on a throw-away
// service of our own (stack label "ltprobe"), never on someone else's stack.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { DockerProbe } from '../src/docker.js';

const STACK = `ltprobe${process.pid}`;
const probe = new DockerProbe(STACK);
const socket = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';
let serviceId = '';

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what} ${last ? String(last) : ''}`);
}

before(async () => {
  assert.ok(existsSync(socket), `Docker socket ${socket} missing: start dockerd (scripts/lib/ensure-docker.sh)`);
  const labels = { 'com.docker.stack.namespace': STACK };
  const svc = await probe.docker.createService({
    Name: `${STACK}_web`,
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: { Image: 'debian:trixie-slim', Command: ['sleep', '600'], Labels: labels, StopGracePeriod: 1e9 },
      RestartPolicy: { Condition: 'on-failure', Delay: 0 },
    },
    Mode: { Replicated: { Replicas: 2 } },
  } as never);
  serviceId = (svc as { id?: string; ID?: string }).id ?? (svc as { ID: string }).ID;
});

after(async () => {
  if (serviceId)
    await probe.docker
      .getService(serviceId)
      .remove()
      .catch(() => undefined);
});

test('When a stack service runs 2 tasks, then the sampler reports 2 replicas under its short name', async () => {
  const p = await waitFor('2 running replicas', async () => {
    const r = await probe.replicas(1);
    return r.counts.web === 2 ? r : undefined;
  });
  assert.deepEqual(Object.keys(p.counts), ['web']);
});

test('When a task is killed as a fault, then Swarm records it failed and the sampler sees the replica restored', async () => {
  const before = await waitFor('2 replicas', async () => (await probe.replicas(0)).counts.web === 2);
  assert.ok(before);
  const r = await probe.inject('service:web', 10, 10.2);
  assert.equal(r.ok, true, r.detail);
  assert.match(r.detail, /killed ltprobe\d+_web\.\d+\./);
  // the killed container is gone at once; Swarm starts a replacement task
  await waitFor(
    'Swarm to record the killed task as failed',
    async () => {
      const tasks = await probe.docker.listTasks({ filters: { service: [`${STACK}_web`] } });
      return tasks.some((t) => t.Status?.State === 'failed');
    },
    20_000,
  );
  await waitFor('Swarm to restore 2 running replicas', async () => (await probe.replicas(20)).counts.web === 2);
});

test('When no container matches a fault, then it is reported as not done', async () => {
  const r = await probe.inject('pg-primary', 5, 5);
  assert.equal(r.ok, false);
  assert.match(r.detail, /no matching running container/);
});
