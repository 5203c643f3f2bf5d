// Against the DEPLOYED `forum` stack (scripts/deploy.sh): the edge's per-address rate limits (docs/EDGE.md "Rate
// limits"), from a client network namespace whose address no deploy exempts (203.0.113.250; the test harness
// exempts only the private ranges its own tools come from). Every request it sends is refused by the api without
// writing anything (no CSRF cookie: 403), or answered by NGINX with 429 first. The namespace is removed afterwards.
// Expects the default limits (signup 6r/m burst 4, login 30r/m burst 10, api 30r/s burst 60).
// Env: EDGE_URL (its port) or EDGE_HTTPS_PORT (default 443); HTTPS, the stack's CA from NODE_EXTRA_CA_CERTS/EDGE_TLS_CA.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EDGE_HTTPS_PORT, EDGE_URL, urlPort } from '../e2e/support.js';
import { waitFor } from './lib/harness.js';
import { netnsClient } from './lib/netns.js';

const REPO = join(import.meta.dirname, '..', '..');
const PORT = process.env.EDGE_URL ? String(urlPort(EDGE_URL)) : EDGE_HTTPS_PORT;
// a /30 of its own: ipblock-stack.test.ts picks its attacker among 203.0.113.8-247 and its bystander is .5/.6
const c = netnsClient('edge-t-rl', '203.0.113.249', '203.0.113.250');
// the edge over HTTPS on the host side of the namespace's veth (the certificate is checked against CLIENT_TLS_NAME)
const edge = `https://${c.host}:${PORT}`;
const report: string[] = [];

interface Burst {
  statuses: number[];
  limited?: { status: number; retryAfter: string | null; contentType: string | null; body: string };
  error?: string;
}
const burst = (method: string, path: string, n: number, concurrency: number): Burst =>
  c.client('burst', method, `${edge}${path}`, String(n), String(concurrency));

/** The first NGINX 429 of a burst: JSON in the API's error shape, with Retry-After. */
function assertLimited(r: Burst, code: string): { detail: string; code: string } {
  assert.ok(r.limited, `no 429 in ${JSON.stringify(r)}`);
  assert.match(String(r.limited.contentType), /^application\/json/);
  const body = JSON.parse(r.limited.body);
  assert.deepEqual(Object.keys(body).sort(), ['code', 'detail']);
  assert.equal(body.code, code, r.limited.body);
  assert.ok(Number(r.limited.retryAfter) >= 1, `Retry-After ${r.limited.retryAfter}`);
  return body;
}
const count = (xs: number[], s: number) => xs.filter((x) => x === s).length;

before(async () => {
  c.create();
  await waitFor('the client namespace reaches the edge', () => c.client('get', `${edge}/nginx-health`).status === 200, 15000, 200);
});

after(() => {
  c.remove();
  if (report.length) process.stdout.write(`${report.map((l) => `# ${l}`).join('\n')}\n`);
});

test('When one address sends 12 sign-ups at once, then NGINX lets at most the burst through and answers the rest 429 signup_rate_limited with Retry-After', () => {
  const r = burst('POST', '/api/users/', 12, 4);
  const body = assertLimited(r, 'signup_rate_limited');
  assert.match(body.detail, /sign-ups/);
  // 1 + burst 4, and one more if a 10 s slot came free during the burst
  assert.ok(12 - count(r.statuses, 429) <= 6, `statuses ${r.statuses}`);
  assert.ok(!r.statuses.some((s) => s >= 500), `statuses ${r.statuses}`);
  report.push(`signups: ${r.statuses.join(',')}; Retry-After ${r.limited?.retryAfter}`);
});

test('When one address sends 20 logins at once, then NGINX answers those over its burst 429 login_rate_limited', () => {
  const r = burst('POST', '/api/auth/', 20, 4);
  assertLimited(r, 'login_rate_limited');
  // 1 + burst 10 (+1 if a 2 s slot came free)
  assert.ok(20 - count(r.statuses, 429) <= 12, `statuses ${r.statuses}`);
  report.push(`logins: ${r.statuses.join(',')}`);
});

test('When one address floods the api, then NGINX answers 429 rate_limited; another address is served meanwhile, and the flooding one again a moment later', async () => {
  const r = burst('GET', '/healthcheck/', 300, 64);
  assertLimited(r, 'rate_limited');
  const served = count(r.statuses, 200);
  assert.ok(served >= 61, `at least 1 + burst 60 are served: ${served}`);
  assert.ok(!r.statuses.some((s) => s >= 500), `statuses: ${[...new Set(r.statuses)]}`);
  report.push(`api flood: ${served} served, ${count(r.statuses, 429)} answered 429`);
  // the limit is per address: the harness's own address (EDGE_URL) is not touched by the namespace's flood
  assert.equal((await fetch(`${EDGE_URL}/healthcheck/`)).status, 200);
  await waitFor('the flooding address is served again', () => c.client('get', `${edge}/healthcheck/`).status === 200, 5000, 200);
});

test('When a static page of the web client is loaded repeatedly, then it is not rate limited (only connections per address are)', () => {
  const r = burst('GET', '/', 100, 8);
  assert.equal(count(r.statuses, 200), 100, `statuses: ${[...new Set(r.statuses)]}`);
});

// Last in this file: the api's brute-force rule blocks this address at the edge (ipblock, 1 h); the block is lifted
// afterwards through the edge's ipblock API, so a re-run starts clean.
test('When one address sends 50 wrong passwords at once, then at most the per-address limit (7) is checked and the rest are refused 429', async () => {
  const r = c.client('logins', edge, 'edge-test-nobody', 'wrong-password-1', '50', '50') as { statuses: number[]; codes: string[]; error?: string };
  try {
    assert.equal(r.error, undefined, String(r.error));
    const checked = count(r.statuses, 400);
    const refused = count(r.statuses, 429);
    // the 8th attempt also blocks the address at the edge: a straggler may meet the block (403 ip_blocked)
    const blocked = count(r.statuses, 403);
    report.push(
      `50 parallel wrong passwords: ${checked} checked (400 invalid_login), ${refused} refused 429, ${blocked} blocked 403 (${[...new Set(r.codes)].join(', ')})`,
    );
    assert.ok(!r.statuses.some((s) => s >= 500), `statuses: ${r.statuses}`);
    assert.ok(checked >= 1 && checked <= 7, `checked ${checked} passwords; statuses ${r.statuses}`);
    assert.equal(checked + refused + blocked, 50, `every attempt is either checked or refused: ${r.statuses}`);
    for (const [i, s] of r.statuses.entries()) if (s === 400) assert.equal(r.codes[i], 'invalid_login');
  } finally {
    const token = readFileSync(process.env.IPBLOCK_TOKEN_FILE ?? join(REPO, 'secrets/ipblock_token'), 'utf8').trim();
    const del = await fetch(`${EDGE_URL}/ops/ipblock/v1/blocks/${c.ip}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    assert.ok(del.status === 204 || del.status === 200 || del.status === 404, `unblock ${c.ip}: ${del.status}`);
  }
});
