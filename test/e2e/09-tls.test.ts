// TLS at the edge, checked with clients nobody here wrote (Debian's curl and openssl): HTTPS on EDGE_HTTPS_PORT with
// HTTP/2, TLS 1.2 and 1.3 only, HSTS, a certificate issued by the stack's local CA (EDGE_TLS_CA, secrets/tls_ca.pem)
// that a client without that CA refuses; plain HTTP on EDGE_HTTP_PORT redirects everything but keepalived's
// /nginx-health; the session and CSRF cookies are Secure; and only the nginx service holds the tls_* secrets, so a
// new certificate rolls nginx alone.
// Env: EDGE_TLS_CA (required), EDGE_HTTPS_PORT (443), EDGE_HTTP_PORT (80), STACK_NAME (forum), ADMIN_USERNAME (admin).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EDGE_HTTP_PORT, EDGE_HTTPS_PORT, STACK, docker, stackServices } from './support.js';

const REPO = join(import.meta.dirname, '..', '..');
const CA = process.env.EDGE_TLS_CA ?? '';
const HTTPS = `https://127.0.0.1:${EDGE_HTTPS_PORT}`;
const HTTP = `http://127.0.0.1:${EDGE_HTTP_PORT}`;
/** how the redirect names the HTTPS origin: no port when it is 443 */
const REDIRECT_ORIGIN = `https://127.0.0.1${EDGE_HTTPS_PORT === '443' ? '' : `:${EDGE_HTTPS_PORT}`}`;
const tmp = mkdtempSync(join(tmpdir(), 'e2e-tls-'));
/** a CA that did not sign the edge's certificate: a client trusting only it must refuse the edge */
const OTHER_CA = join(tmp, 'other-ca.pem');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
/** runs a command; a non-zero exit is a result, not an exception. CURL_CA_BUNDLE is dropped: --cacert decides. */
function run(cmd: string, args: string[], input = ''): Run {
  const env = { ...process.env };
  delete env.CURL_CA_BUNDLE;
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, env, timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}
const curl = (...args: string[]) => run('curl', ['-sS', '--max-time', '10', ...args]);
const curlIn = (input: string, ...args: string[]) => run('curl', ['-sS', '--max-time', '10', ...args], input);

/** Status and headers (lower-case names; repeated ones joined by \n) of the last response in curl's -D output. */
function parseHead(dump: string): { status: number; headers: Map<string, string> } {
  const blocks = dump.trim().split(/\r?\n\r?\n/);
  const lines = blocks[blocks.length - 1].split(/\r?\n/);
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0])?.[1] ?? 0);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    headers.set(k, headers.has(k) ? `${headers.get(k)}\n${v}` : v);
  }
  return { status, headers };
}
const setCookies = (h: Map<string, string>) => (h.get('set-cookie') ?? '').split('\n').filter(Boolean);
const cookieNamed = (h: Map<string, string>, name: string) => setCookies(h).find((c) => c.startsWith(`${name}=`));
const attrs = (cookie: string) =>
  cookie
    .split(';')
    .slice(1)
    .map((a) => a.trim().toLowerCase());

before(() => {
  assert.ok(
    CA,
    'EDGE_TLS_CA is not set: it must name the CA that signed the edge certificate (secrets/tls_ca.pem; npm test exports it). ' +
      `Run e.g. EDGE_TLS_CA=${join(REPO, 'secrets/tls_ca.pem')} node --test --import tsx test/e2e/09-tls.test.ts`,
  );
  assert.ok(existsSync(CA), `EDGE_TLS_CA=${CA}: no such file (secrets/generate.sh writes secrets/tls_ca.pem)`);
  const made = run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=not the forum CA',
    '-keyout', join(tmp, 'other-ca.key'), '-out', OTHER_CA,
  ]); // prettier-ignore
  assert.equal(made.code, 0, `openssl could not make a throwaway CA: ${made.stderr}`);
});

after(() => rmSync(tmp, { recursive: true, force: true }));

test('When / is fetched over HTTPS with the CA, then the certificate verifies and the answer is 200 over HTTP/2', () => {
  const r = curl('--cacert', CA, '--http2', '-o', '/dev/null', '-w', '%{http_code} %{http_version}', `${HTTPS}/`);
  assert.equal(r.code, 0, `curl exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout, '200 2');
});

test('When pages, the api and static files are fetched over HTTPS, then each answer carries HSTS for at least a year', () => {
  const html = curl('--cacert', CA, `${HTTPS}/`);
  assert.equal(html.code, 0, html.stderr);
  const asset = /["'](\/static\/[^"']+\.js)["']/.exec(html.stdout)?.[1];
  assert.ok(asset, 'index.html references a static script');
  for (const path of ['/', '/api/auth/', '/healthcheck/', asset]) {
    const r = curl('--cacert', CA, '-D', '-', '-o', '/dev/null', `${HTTPS}${path}`);
    assert.equal(r.code, 0, `${path}: ${r.stderr}`);
    const { status, headers } = parseHead(r.stdout);
    assert.equal(status, 200, path);
    const hsts = headers.get('strict-transport-security') ?? '';
    const maxAge = Number(/max-age=(\d+)/i.exec(hsts)?.[1] ?? 0);
    assert.ok(maxAge >= 31_536_000, `${path}: Strict-Transport-Security "${hsts}"`);
  }
});

test('When a client offers only TLS 1.0/1.1, then the handshake fails; TLS 1.2 and TLS 1.3 each succeed', () => {
  // SECLEVEL=0: Debian's OpenSSL would otherwise refuse TLS 1.0/1.1 on the client side and prove nothing about the edge
  const old = curl('--cacert', CA, '--tlsv1.0', '--tls-max', '1.1', '--ciphers', 'DEFAULT@SECLEVEL=0', '-o', '/dev/null', `${HTTPS}/`);
  assert.notEqual(old.code, 0, 'TLS 1.1 was accepted');
  assert.equal(old.code, 35, `expected a failed handshake (curl exit 35), got ${old.code}: ${old.stderr}`);
  // the edge's refusal (its protocol_version alert), not the client's own ("no protocols available")
  assert.match(old.stderr, /alert protocol version|unsupported protocol/, `not refused by the edge: ${old.stderr}`);
  for (const [label, args] of [
    ['TLS 1.2', ['--tlsv1.2', '--tls-max', '1.2']],
    ['TLS 1.3', ['--tlsv1.3']],
  ] as const) {
    const r = curl('--cacert', CA, ...args, '-o', '/dev/null', '-w', '%{http_code}', `${HTTPS}/`);
    assert.equal(r.code, 0, `${label}: curl exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stdout, '200', label);
  }
  const v12 = run('openssl', ['s_client', '-connect', `127.0.0.1:${EDGE_HTTPS_PORT}`, '-tls1_2', '-CAfile', CA, '-verify_return_error', '-brief'], '');
  assert.match(v12.stdout + v12.stderr, /Protocol version: TLSv1\.2/, v12.stderr);
});

test('When plain HTTP is asked, then GET/HEAD are redirected with 301 and other methods with 308 to the same https URL, and /nginx-health answers 200', () => {
  const head = curl('-I', `${HTTP}/t/x/1/?a=b`);
  assert.equal(head.code, 0, head.stderr);
  const h = parseHead(head.stdout);
  assert.equal(h.status, 301);
  assert.equal(h.headers.get('location'), `${REDIRECT_ORIGIN}/t/x/1/?a=b`);
  assert.equal(setCookies(h.headers).length, 0, 'no cookie is set over plain HTTP');

  const get = curl('-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', `${HTTP}/api/threads/?list=all`);
  assert.equal(get.stdout, `301 ${REDIRECT_ORIGIN}/api/threads/?list=all`);

  const post = curl(
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{redirect_url}',
    '-X',
    'POST',
    '-H',
    'content-type: application/json',
    '--data-binary',
    '{}',
    `${HTTP}/api/auth/`,
  );
  assert.equal(post.code, 0, post.stderr);
  assert.equal(post.stdout, `308 ${REDIRECT_ORIGIN}/api/auth/`);

  const health = curl('-w', '\n%{http_code}', `${HTTP}/nginx-health`);
  assert.equal(health.code, 0, health.stderr);
  assert.equal(health.stdout, 'ok\n200');
});

test('When the certificate is checked by openssl against the CA, then it verifies and is issued by the CA; a client without the CA is refused', () => {
  const s = run(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${EDGE_HTTPS_PORT}`, '-CAfile', CA, '-verify_return_error', '-verify_ip', '127.0.0.1', '-showcerts'],
    '',
  );
  assert.equal(s.code, 0, `openssl s_client exit ${s.code}: ${s.stderr}`);
  assert.match(s.stdout, /Verify return code: 0 \(ok\)/);
  const served = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(s.stdout)?.[0];
  assert.ok(served, 'the edge sent a certificate');
  const leaf = new X509Certificate(served);
  const ca = new X509Certificate(readFileSync(CA));
  assert.ok(leaf.checkIssued(ca), `issuer "${leaf.issuer}" is not the CA "${ca.subject}"`);
  assert.ok(leaf.verify(ca.publicKey), "the CA's key did not sign the certificate");
  assert.ok(leaf.checkIP('127.0.0.1') && leaf.checkHost('localhost'), `names: ${leaf.subjectAltName}`);
  assert.ok(!leaf.ca, 'the edge serves a leaf certificate, not a CA');

  // verification really happens: trusting another CA, curl and openssl refuse the same edge
  const refused = curl('--cacert', OTHER_CA, '-o', '/dev/null', `${HTTPS}/`);
  assert.equal(refused.code, 60, `curl with another CA must fail verification (exit 60), got ${refused.code}: ${refused.stderr}`);
  const refusedSsl = run('openssl', ['s_client', '-connect', `127.0.0.1:${EDGE_HTTPS_PORT}`, '-CAfile', OTHER_CA, '-verify_return_error', '-brief'], '');
  assert.notEqual(refusedSsl.code, 0, 'openssl with another CA must fail verification');
});

test('When a page is loaded and the admin signs in over HTTPS, then the csrftoken and session cookies are Secure', () => {
  // NGINX hands out the csrftoken on a page of the web client
  const page = parseHead(curl('--cacert', CA, '-D', '-', '-o', '/dev/null', `${HTTPS}/`).stdout);
  const pageCsrf = cookieNamed(page.headers, 'csrftoken');
  assert.ok(pageCsrf, `GET / set no csrftoken: ${setCookies(page.headers).join(' | ')}`);
  assert.ok(attrs(pageCsrf).includes('secure'), `NGINX's csrftoken is not Secure: ${pageCsrf}`);

  // the api's own csrftoken, then Misago's login with it (the password goes through stdin, not the command line)
  const first = parseHead(curl('--cacert', CA, '-D', '-', '-o', '/dev/null', `${HTTPS}/api/auth/`).stdout);
  const apiCsrf = cookieNamed(first.headers, 'csrftoken');
  assert.ok(apiCsrf, `GET /api/auth/ set no csrftoken: ${setCookies(first.headers).join(' | ')}`);
  assert.ok(attrs(apiCsrf).includes('secure'), `the api's csrftoken is not Secure: ${apiCsrf}`);
  const token = apiCsrf.split(';')[0].slice('csrftoken='.length);
  const username = process.env.ADMIN_USERNAME ?? 'admin';
  const password = readFileSync(join(REPO, 'secrets', 'admin_password'), 'utf8').trim();
  const login = curlIn(
    JSON.stringify({ username, password }),
    '--cacert', CA, '-D', '-', '-o', '/dev/null', '-X', 'POST',
    '-H', 'content-type: application/json', '-H', `cookie: csrftoken=${token}`, '-H', `x-csrftoken: ${token}`,
    '--data-binary', '@-', `${HTTPS}/api/auth/`,
  ); // prettier-ignore
  assert.equal(login.code, 0, login.stderr);
  const res = parseHead(login.stdout);
  assert.equal(res.status, 200, `login as ${username}: ${res.status}`);
  const session = cookieNamed(res.headers, 'sessionid');
  assert.ok(session, `the login set no sessionid: ${setCookies(res.headers).join(' | ')}`);
  assert.ok(attrs(session).includes('secure'), `sessionid is not Secure: ${session.replace(/=[^;]+/, '=…')}`);
  assert.ok(attrs(session).includes('httponly'), 'sessionid is HttpOnly');
});

test('When the services of the stack are inspected, then only nginx references the tls secrets (a new certificate rolls nginx alone)', async () => {
  const holders = new Map<string, string[]>();
  for (const svc of await stackServices()) {
    const secrets = (JSON.parse(await docker('service', 'inspect', svc, '--format', '{{json .Spec.TaskTemplate.ContainerSpec.Secrets}}')) ?? []) as Array<{
      SecretName: string;
    }>;
    const tls = secrets.map((s) => s.SecretName).filter((n) => n.startsWith(`${STACK}_tls_`));
    if (tls.length) holders.set(svc, tls);
  }
  assert.deepEqual([...holders.keys()], [`${STACK}_nginx`], `services holding ${STACK}_tls_* secrets: ${JSON.stringify(Object.fromEntries(holders))}`);
  const names = holders.get(`${STACK}_nginx`)!.sort();
  assert.equal(names.length, 2, names.join(', '));
  assert.match(names[0], new RegExp(`^${STACK}_tls_cert_\\w+$`));
  assert.match(names[1], new RegExp(`^${STACK}_tls_key_\\w+$`));
});
