// Only the edge is reachable from the host: no DB / Redis / Pgpool / HAProxy port is published, the internal
// networks are internal, and the internal services' task addresses cannot be reached from the host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { EDGE_URL, STACK, docker, stackContainers, stackServices, urlPort } from './support.js';

const run = async (cmd: string, args: string[]) => (await promisify(execFile)(cmd, args)).stdout;

function canConnect(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

test('When the stack runs, then no service but nginx publishes a port', async () => {
  const services = await stackServices();
  assert.ok(services.includes(`${STACK}_nginx`), 'nginx service exists');
  for (const svc of services) {
    const ports = JSON.parse(await docker('service', 'inspect', svc, '--format', '{{json .Spec.EndpointSpec.Ports}}')) ?? [];
    if (svc === `${STACK}_nginx`) {
      // HTTPS (443) and plain HTTP (80), which only redirects to it and answers keepalived's /nginx-health
      const targets = (ports as Array<{ TargetPort: number; PublishMode: string }>).map((p) => p.TargetPort).sort((a, b) => a - b);
      assert.deepEqual(targets, [80, 443], 'nginx publishes exactly its HTTP and HTTPS ports');
      for (const p of ports) assert.equal(p.PublishMode, 'host', `port ${p.TargetPort}`);
    } else {
      assert.deepEqual(ports, [], `${svc} publishes nothing`);
    }
  }
  for (const id of await stackContainers()) {
    const [name, bindings] = (await docker('inspect', id, '--format', '{{.Name}} {{json .HostConfig.PortBindings}}')).trim().split(' ');
    if (name.startsWith(`/${STACK}_nginx.`)) continue;
    assert.ok(bindings === '{}' || bindings === 'null', `${name} binds no host port (${bindings})`);
  }
});

test('When the overlay networks are inspected, then all are internal but edge-net (and egress-net)', async () => {
  for (const n of ['app-net', 'postgres-net', 'redis-net']) {
    const internal = (await docker('network', 'inspect', `${STACK}_${n}`, '--format', '{{.Internal}}')).trim();
    assert.equal(internal, 'true', `${n} internal`);
  }
  const nginxNets = (await docker('service', 'inspect', `${STACK}_nginx`, '--format', '{{range .Spec.TaskTemplate.Networks}}{{.Target}} {{end}}'))
    .trim()
    .split(' ');
  const names = await Promise.all(nginxNets.map(async (id) => (await docker('network', 'inspect', id, '--format', '{{.Name}}')).trim()));
  assert.deepEqual(names.sort(), [`${STACK}_app-net`, `${STACK}_edge-net`]);
});

test('When the host connects, then the edge answers and the data tier has no address the host can reach', async () => {
  const edge = new URL(EDGE_URL);
  assert.equal(await canConnect(edge.hostname, urlPort(edge)), true, 'edge reachable');
  // Containers on a non-internal overlay also sit on docker_gwbridge, whose addresses the host reaches: none of the
  // data tier may be there. Their overlay addresses must have no local route (we never connect to them: without a
  // local route the packets would leave the machine).
  const gw = JSON.parse(await docker('network', 'inspect', 'docker_gwbridge', '--format', '{{json .Containers}}')) ?? {};
  const onGw = new Set(Object.keys(gw));
  const localDevs = new Set(
    (await run('ip', ['-o', 'link', 'show']))
      .split('\n')
      .map((l) => l.split(':')[1]?.trim().split('@')[0])
      .filter(Boolean),
  );
  localDevs.delete('eth0');
  let probed = 0;
  for (const svc of ['pg-0', 'pg-1', 'pg-2', 'pgpool', 'redis-0', 'redis-1', 'redis-2', 'sentinel', 'redis-proxy', 'api', 'worker']) {
    const ids = (await docker('ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.name=${STACK}_${svc}`)).split('\n').filter(Boolean);
    for (const id of ids) {
      assert.ok(!onGw.has(id), `${svc} must not be attached to docker_gwbridge`);
      const ips = (await docker('inspect', id, '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}')).trim().split(/\s+/).filter(Boolean);
      for (const ip of ips) {
        probed++;
        const route = await run('ip', ['route', 'get', ip]);
        const dev = /\bdev (\S+)/.exec(route)?.[1] ?? '';
        assert.ok(!localDevs.has(dev), `${svc} ${ip} is routed locally via ${dev}: ${route.trim()}`);
      }
    }
  }
  assert.ok(probed >= 10, `checked ${probed} task addresses`);
});
