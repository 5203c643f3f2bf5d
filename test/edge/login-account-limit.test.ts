// Against the DEPLOYED `forum` stack: guesses at ONE account from many addresses are stopped by the api's
// per-account limit (LOGIN_ACCOUNT_MAX_ATTEMPTS, 20 per LOGIN_ACCOUNT_WINDOW_SECONDS, docs/EDGE.md "Rate limits"),
// which no per-address limit can do. Six client network namespaces (198.51.100.0/27, TEST-NET-2; addresses no deploy
// exempts) each send 4 wrong passwords: under every per-address limit (NGINX's login zone, the api's 8 failures in
// 30 s that block an address), 24 in all. A seventh address signs in to another account meanwhile: not affected.
// Env: EDGE_URL / EDGE_HTTPS_PORT (the harness's own address, for the sign-ups), the stack's CA as in rate-limit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client, EDGE_HTTPS_PORT, EDGE_URL, urlPort } from '../e2e/support.js';
import { waitFor } from './lib/harness.js';
import { netnsClient, type NetnsClient } from './lib/netns.js';

const PORT = process.env.EDGE_URL ? String(urlPort(EDGE_URL)) : EDGE_HTTPS_PORT;
const ACCOUNT_MAX = Number(process.env.LOGIN_ACCOUNT_MAX_ATTEMPTS ?? 20);
const PER_ADDRESS = 4;
// /30 each: host side .4k+1, the namespace .4k+2
const clients: NetnsClient[] = Array.from({ length: 7 }, (_, k) => netnsClient(`edge-t-acct${k}`, `198.51.100.${4 * k + 1}`, `198.51.100.${4 * k + 2}`));
const guessers = clients.slice(0, 6);
const bystander = clients[6];
const edgeOf = (c: NetnsClient) => `https://${c.host}:${PORT}`;
const suffix = randomBytes(3).toString('hex');
const victim = { username: `acct${suffix}`, password: 'Horse-battery-staple-97' };
const other = { username: `othr${suffix}`, password: 'Lamp-river-cobalt-31' };

interface Logins {
  statuses: number[];
  codes: string[];
  error?: string;
}
const logins = (c: NetnsClient, u: string, pw: string, n: number, concurrency = 1): Logins =>
  c.client('logins', edgeOf(c), u, pw, String(n), String(concurrency));

before(async () => {
  // the two accounts, signed up from the harness's address (exempt from the edge's limits)
  for (const u of [victim, other]) {
    const c = new Client();
    await c.get('/api/auth/'); // the CSRF cookie
    const r = await c.post('/api/users/', { username: u.username, email: `${u.username}@example.com`, password: u.password });
    assert.equal(r.status, 200, `sign-up ${u.username}: ${r.text}`);
  }
  for (const c of clients) {
    c.create();
    await waitFor(`${c.ns} reaches the edge`, () => c.client('get', `${edgeOf(c)}/nginx-health`).status === 200, 15000, 200);
  }
});

after(() => {
  for (const c of clients) c.remove();
});

test('When one account is guessed at from six addresses, then the per-account limit stops the guesses after 20 checks; another user signs in meanwhile', () => {
  const statuses: number[] = [];
  const codes: string[] = [];
  for (const c of guessers) {
    const r = logins(c, victim.username, `wrong-${c.ip}`, PER_ADDRESS);
    assert.equal(r.error, undefined, `${c.ns}: ${r.error}`);
    statuses.push(...r.statuses);
    codes.push(...r.codes);
  }
  const checked = statuses.filter((s) => s === 400).length;
  const lockedOut = codes.filter((c) => c === 'too_many_account_login_attempts').length;
  process.stdout.write(`# ${guessers.length} addresses x ${PER_ADDRESS} guesses: ${checked} checked, ${lockedOut} refused by the per-account limit\n`);
  assert.ok(!statuses.some((s) => s >= 500), `statuses ${statuses}`);
  // no address was refused on its own account (each stays under every per-address limit) ...
  assert.ok(!codes.includes('too_many_login_attempts') && !codes.includes('login_rate_limited'), `codes ${codes}`);
  // ... yet the account's checks stop at the limit, and everything after it is refused without a check
  assert.equal(checked, ACCOUNT_MAX, `statuses ${statuses}`);
  assert.equal(lockedOut, guessers.length * PER_ADDRESS - ACCOUNT_MAX, `codes ${codes}`);
  // a normal user is not affected: another account signs in, from an address of its own and from a guessing one
  for (const c of [bystander, guessers[0]]) {
    const ok = logins(c, other.username, other.password, 1);
    assert.deepEqual(ok.statuses, [200], `${other.username} from ${c.ip}: ${JSON.stringify(ok)}`);
  }
  // the price of the limit, stated in docs/SECURITY.md: the guessed account itself waits out the window
  const owner = logins(bystander, victim.username, victim.password, 1);
  assert.deepEqual(owner.codes, ['too_many_account_login_attempts'], JSON.stringify(owner));
});
