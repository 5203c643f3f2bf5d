// Only the edge is reachable from the host: no DB / Redis / Pgpool / HAProxy port is published, the internal
// networks are internal, and the internal services' task addresses cannot be reached from the host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { EDGE_URL, STACK, docker, stackContainers, stackServices } from './support.js';

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

test('no service but nginx publishes a port', async () => {
  const services = await stackServices();
  assert.ok(services.includes(`${STACK}_nginx`), 'nginx service exists');
  for (const svc of services) {
    const ports = JSON.parse(await docker('service', 'inspect', svc, '--format', '{{json .Spec.EndpointSpec.Ports}}')) ?? [];
    if (svc === `${STACK}_nginx`) {
      assert.equal(ports.length, 1, 'nginx publishes exactly one port');
      assert.equal(ports[0].PublishMode, 'host');
      assert.equal(ports[0].TargetPort, 80);
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

test('the internal overlay networks are internal; only edge-net (and egress-net) are not', async () => {
  for (const n of ['app-net', 'postgres-net', 'redis-net']) {
    const internal = (await docker('network', 'inspect', `${STACK}_${n}`, '--format', '{{.Internal}}')).trim();
    assert.equal(internal, 'true', `${n} internal`);
  }
  const nginxNets = (await docker('service', 'inspect', `${STACK}_nginx`, '--format', '{{range .Spec.TaskTemplate.Networks}}{{.Target}} {{end}}')).trim().split(' ');
  const names = await Promise.all(nginxNets.map(async (id) => (await docker('network', 'inspect', id, '--format', '{{.Name}}')).trim()));
  assert.deepEqual(names.sort(), [`${STACK}_app-net`, `${STACK}_edge-net`]);
});

test('from the host, the edge answers and the data tier does not', async () => {
  const edge = new URL(EDGE_URL);
  assert.equal(await canConnect(edge.hostname, Number(edge.port || 80)), true, 'edge reachable');
  const targets: Array<[string, number]> = [
    ['pg-0', 5432], ['pg-1', 5432], ['pg-2', 5432], ['pgpool', 5432], ['redis-0', 6379], ['redis-1', 6379],
    ['redis-2', 6379], ['sentinel', 26379], ['redis-proxy', 6379], ['api', 8000],
  ];
  let probed = 0;
  for (const [svc, port] of targets) {
    const ids = (await docker('ps', '-q', '--filter', `label=com.docker.swarm.service.name=${STACK}_${svc}`)).split('\n').filter(Boolean);
    for (const id of ids) {
      const ips = (await docker('inspect', id, '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}')).trim().split(/\s+/).filter(Boolean);
      for (const ip of ips) {
        probed++;
        assert.equal(await canConnect(ip, port), false, `${svc} ${ip}:${port} must not be reachable from the host`);
      }
    }
  }
  assert.ok(probed >= 10, `probed ${probed} task addresses`);
});
