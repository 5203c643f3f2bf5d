// The load tool against an HTTPS edge whose certificate comes from a local CA (as secrets/generate.sh makes it):
// it trusts the CA it is given, and refuses a certificate no CA it knows signed with a message naming the file.
// Needs Debian's openssl (the CAs and the certificate are made here, in a temporary directory).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import tls, { rootCertificates } from 'node:tls';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULTS, run } from '../src/engine.js';
import { Client } from '../src/http.js';
import { caFileFor, isCertificateError, trustWith, untrustedMessage } from '../src/tls.js';
import { startMiniForum, type MiniForum } from './fixtures/mini-forum.js';

const dir = mkdtempSync(join(tmpdir(), 'loadtest-tls-'));
const f = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
let forum: MiniForum;

function makeCa(name: string): void {
  openssl(
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.pem`),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ); // prettier-ignore
}

before(async () => {
  makeCa('edge-ca');
  makeCa('other-ca');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', f('server.key'));
  openssl('req', '-new', '-key', f('server.key'), '-subj', '/CN=localhost', '-out', f('server.csr'));
  writeFileSync(f('ext'), 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(
    'x509', '-req', '-in', f('server.csr'), '-CA', f('edge-ca.pem'), '-CAkey', f('edge-ca.key'), '-set_serial', '0x1234',
    '-days', '2', '-extfile', f('ext'), '-out', f('server.pem'),
  ); // prettier-ignore
  forum = await startMiniForum(1, { key: readFileSync(f('server.key'), 'utf8'), cert: readFileSync(f('server.pem'), 'utf8') });
});

after(async () => {
  await forum?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('When the CA file is chosen, then EDGE_TLS_CA (which must exist) comes first, then the default when it exists', () => {
  const ca = f('edge-ca.pem');
  assert.equal(caFileFor({ EDGE_TLS_CA: ca }, f('missing.pem')), ca);
  assert.equal(caFileFor({ EDGE_TLS_CA: ca, NODE_EXTRA_CA_CERTS: f('other-ca.pem') }, f('missing.pem')), ca, 'another bundle in NODE_EXTRA_CA_CERTS');
  assert.throws(() => caFileFor({ EDGE_TLS_CA: f('missing.pem') }), /EDGE_TLS_CA=.*missing\.pem: no such file/);
  assert.equal(caFileFor({}, ca), ca);
  assert.equal(caFileFor({}, f('missing.pem')), undefined);
  // the pool keeps Node's own trust: its CAs, NODE_EXTRA_CA_CERTS, and the stack's CA
  const pems = trustWith(ca, { NODE_EXTRA_CA_CERTS: f('other-ca.pem') });
  assert.equal(pems.length, rootCertificates.length + 2);
  assert.deepEqual(pems.slice(-2), [readFileSync(f('other-ca.pem'), 'utf8'), readFileSync(ca, 'utf8')]);
});

test('When the pool is given the CA, then an https request is answered; without it, the certificate is refused', async () => {
  const trusted = new Client(forum.url, 2, 5000, trustWith(f('edge-ca.pem'), {}));
  const untrusted = new Client(forum.url, 2, 5000, trustWith(f('other-ca.pem'), {}));
  try {
    assert.equal((await trusted.request('GET', '/api/auth/', null)).status, 200);
    const r = await untrusted.request('GET', '/api/auth/', null);
    assert.equal(r.status, 0);
    assert.ok(isCertificateError(r.error), `a certificate error: ${r.error}`);
  } finally {
    await trusted.close();
    await untrusted.close();
  }
});

test('When the pool opens many connections to an https edge, then it parses the CA bundle once, not once per connection', async () => {
  // ~145 roots parsed per connection cost ~50 ms of CPU each: opening 128 sockets under load blocked the tool's event
  // loop for seconds and skewed every latency after it (BENCHMARKS.md, twenty-fourth session)
  const client = new Client(forum.url, 4, 5000, trustWith(f('edge-ca.pem'), {}));
  const tlsModule = tls as unknown as { createSecureContext: typeof tls.createSecureContext };
  const original = tlsModule.createSecureContext;
  let built = 0;
  tlsModule.createSecureContext = (...args) => {
    built++;
    return original(...args);
  };
  try {
    const results = await Promise.all(Array.from({ length: 8 }, () => client.request('GET', '/api/auth/', null)));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(8).fill(200),
    );
    assert.ok(client.pool.stats.connected > 1, `several connections were opened (${client.pool.stats.connected})`);
    assert.equal(built, 0, 'secure contexts built while connecting');
  } finally {
    tlsModule.createSecureContext = original;
    await client.close();
  }
});

const opts = {
  ...DEFAULTS,
  users: 4,
  rampRate: 4,
  thinkTimeS: 1,
  durationS: 2,
  seedThreads: 2,
  postIntervalMs: 0,
  docker: false,
  faults: [],
  progress: () => undefined,
};

test('When the run targets an https edge with its CA, then it seeds and loads without a failure', async () => {
  const s = await run({ ...opts, target: forum.url, caFile: f('edge-ca.pem') });
  assert.equal(s.totals.failures, 0, JSON.stringify(s.errors));
  assert.ok(s.totals.requests > 0);
});

test("When the edge's certificate is signed by another CA, then the run stops before seeding and names the CA file", async () => {
  const users = forum.users.size;
  await assert.rejects(run({ ...opts, target: forum.url, caFile: f('other-ca.pem') }), (err: Error) => {
    assert.match(
      err.message,
      /certificate at https:\/\/127\.0\.0\.1:\d+ is not trusted \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/,
    );
    assert.ok(err.message.includes(f('other-ca.pem')), err.message);
    return true;
  });
  assert.equal(forum.users.size, users, 'nothing was seeded');
  assert.match(untrustedMessage('https://10.0.0.1', 'ERR_TLS_CERT_ALTNAME_INVALID', undefined), /does not name 10\.0\.0\.1/);
  assert.match(untrustedMessage('https://127.0.0.1', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', undefined), /secrets\/tls_ca\.pem does not exist; set EDGE_TLS_CA/);
});
