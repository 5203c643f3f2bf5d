// The deployed snmpd (host network, SNMP v2c) answers only the sources `npm run deploy` allows (SNMP_ALLOW: the
// swarm's node addresses, docker_gwbridge, loopback). Asked with the right community by Debian's snmpget, from this
// machine's own address it answers; from a client namespace at 203.0.113.246 it stays silent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, tempDir, waitFor } from './lib/harness.js';
import { netnsClient } from './lib/netns.js';

const PORT = process.env.SNMPD_PORT ?? '161';
const community = readFileSync(join(REPO, 'secrets/snmp_community'), 'utf8').trim();
const c = netnsClient('edge-t-snmp', '203.0.113.245', '203.0.113.246');
const sysName = '1.3.6.1.2.1.1.5.0';

// the community reaches snmpget through its own config file (defCommunity), not its command line
const conf = tempDir('edge-snmp-');
conf.file('snmp.conf', `defVersion 2c\ndefCommunity ${community}\nmibs :\n`);
const env = { ...process.env, SNMPCONFPATH: conf.dir };

/** snmpget's answer (value) or its error, from this machine or inside the namespace */
function snmpget(target: string, inNs = false): { ok: boolean; out: string } {
  const args = ['-t', '2', '-r', '0', '-Oqv', `${target}:${PORT}`, sysName];
  const r = inNs
    ? spawnSync('ip', ['netns', 'exec', c.ns, 'snmpget', ...args], { encoding: 'utf8', timeout: 20_000, env })
    : spawnSync('snmpget', args, { encoding: 'utf8', timeout: 20_000, env });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** this node's address as the swarm advertises it (127.0.0.1 when it advertises none) */
function nodeAddress(): string {
  const r = spawnSync('docker', ['node', 'inspect', 'self', '--format', '{{.Status.Addr}}'], { encoding: 'utf8' });
  const a = (r.stdout ?? '').trim();
  return a && a !== '0.0.0.0' ? a : '127.0.0.1';
}

before(async () => {
  c.create();
  // the namespace reaches the host at all (the edge answers it), so a silent snmpd is the allow list, not routing
  await waitFor(
    'the client namespace reaches this machine',
    () => c.client('get', `http://${c.host}:${process.env.EDGE_HTTP_PORT ?? '80'}/nginx-health`).status === 200,
    15000,
    200,
  );
});
after(() => {
  c.remove();
  conf.remove();
});

test('When snmpd is asked from a swarm node address, then it answers; from any other address, then it does not', async () => {
  const self = nodeAddress();
  let mine = snmpget(self);
  await waitFor(`snmpd answers ${self}`, () => (mine = snmpget(self)).ok, 30_000, 1000);
  assert.ok(mine.out.length > 0, 'sysName answered');
  const stranger = snmpget(c.host, true);
  assert.equal(stranger.ok, false, `snmpd answered 203.0.113.246: ${stranger.out}`);
  assert.match(stranger.out, /Timeout/i);
  process.stdout.write(`# snmpd from ${self}: ${mine.out}; from 203.0.113.246: ${stranger.out}\n`);
});
