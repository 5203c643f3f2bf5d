// The Docker socket on the deployed stack: only docker-proxy mounts it; its clients reach Docker through its UNIX
// sockets and get only the calls they make. The calls are made from inside the clients' own containers, with
// node's http client, as their dockerode would make them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerOf, docker, STACK, stackServices } from './support.js';

/** the HTTP status of `method path` sent to the UNIX socket `socket` from inside `container` */
async function statusThrough(container: string, socket: string, method: string, path: string): Promise<number> {
  const js = `const r=require('http').request({socketPath:process.argv[1],method:process.argv[2],path:process.argv[3],headers:{'content-type':'application/json'}},(res)=>{console.log(res.statusCode);res.resume()});r.on('error',(e)=>{console.log('error '+e.code);});r.end(process.argv[2]==='POST'?'{}':undefined)`;
  const out = (await docker('exec', container, 'node', '-e', js, socket, method, path)).trim();
  const n = Number(out);
  assert.ok(Number.isInteger(n), `${method} ${path} through ${socket}: ${out}`);
  return n;
}

test('When the stack runs, then only docker-proxy mounts the Docker socket, and the autoscaler runs as no root with no capability', async () => {
  const holders: string[] = [];
  for (const svc of await stackServices()) {
    const mounts = JSON.parse(await docker('service', 'inspect', svc, '--format', '{{json .Spec.TaskTemplate.ContainerSpec.Mounts}}')) as
      { Source?: string }[] | null;
    if ((mounts ?? []).some((m) => m.Source === '/var/run/docker.sock')) holders.push(svc);
  }
  assert.deepEqual(holders, [`${STACK}_docker-proxy`]);
  const autoscaler = await containerOf('autoscaler');
  assert.notEqual((await docker('exec', autoscaler, 'id', '-u')).trim(), '0');
  const caps = (await docker('exec', autoscaler, 'grep', '^CapBnd', '/proc/1/status')).trim();
  assert.match(caps, /^CapBnd:\s+0+$/, caps);
});

test('When a reader asks docker-proxy for a call outside its list, then it is refused with 403; its own calls pass', async () => {
  const c = await containerOf('log-shipper');
  const sock = '/run/docker-proxy/read.sock';
  assert.equal(await statusThrough(c, sock, 'GET', '/v1.41/containers/json'), 200);
  assert.equal(await statusThrough(c, sock, 'GET', '/_ping'), 200);
  assert.equal(await statusThrough(c, sock, 'POST', '/v1.41/containers/create'), 403);
  assert.equal(await statusThrough(c, sock, 'POST', '/v1.41/services/x/update'), 403);
  assert.equal(await statusThrough(c, sock, 'GET', '/v1.41/secrets'), 403);
  assert.equal(await statusThrough(c, sock, 'GET', '/v1.41/containers/x/../../secrets'), 403);
});

test('When the autoscaler asks docker-proxy for anything but service reads and updates, then it is refused with 403', async () => {
  const c = await containerOf('autoscaler');
  const sock = '/run/docker-admin/scale.sock';
  assert.equal(await statusThrough(c, sock, 'GET', `/v1.41/services/${STACK}_api`), 200);
  assert.equal(await statusThrough(c, sock, 'POST', '/v1.41/containers/create'), 403);
  assert.equal(await statusThrough(c, sock, 'GET', '/v1.41/containers/json'), 403);
  assert.equal(await statusThrough(c, sock, 'POST', '/v1.41/swarm/leave'), 403);
  // it has no way to the reader's socket or the raw one
  const ls = (await docker('exec', c, 'sh', '-c', 'ls /run/docker-proxy /var/run/docker.sock 2>&1 || true')).trim();
  assert.match(ls, /No such file/, ls);
});
