// Web client in real headless Chromium (Debian's /usr/bin/chromium + playwright-core) against the
// deployed stack through the edge: EDGE_URL (default https://127.0.0.1:${EDGE_HTTPS_PORT:-443}).
// HTTPS: Node (fetch, playwright's API requests) trusts the local CA through NODE_EXTRA_CA_CERTS; Chromium, which has
// its own verifier, is told to accept exactly the keys of EDGE_TLS_CA and of the edge's certificate that Node has
// verified against that CA (--ignore-certificate-errors-spki-list; no blanket ignoreHTTPSErrors).
// User A registers and starts a thread, user B replies, A sees the thread as unread; paging, lists,
// subscribe, logout/login; the thread URL the API returns (/t/<slug>/<id>/) opens the thread; NGINX cache
// headers; a repeat visit loads no static file from the server.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { chromium, request as pwRequest, type BrowserContext, type Page } from 'playwright-core';

const EDGE = (process.env.EDGE_URL ?? `https://127.0.0.1:${process.env.EDGE_HTTPS_PORT ?? '443'}`).replace(/\/+$/, '');
const EDGE_TLS_CA = process.env.EDGE_TLS_CA;
/** Misago's session cookie (services/forum-api/src/session.ts SESSION_COOKIE) */
const SESSION_COOKIE = 'sessionid';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = join(ROOT, 'reports', 'screenshots');
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const tag = Date.now().toString(36).slice(-6);
const A = { username: `wa${tag}`, email: `wa${tag}@example.com`, password: `pw-A-${tag}-secret` };
const B = { username: `wb${tag}`, email: `wb${tag}@example.com`, password: `pw-B-${tag}-secret` };
const TITLE = `How do I page through posts ${tag}?`;
const REPLY = `Reply from B ${tag}: use the pager below.`;

const dirs: string[] = [];
const contexts: BrowserContext[] = [];
let dirA = '';
let threadId = 0;
let threadPath = ''; // /t/<slug>/<id>/, where the client went after starting the thread

async function launch(dir: string): Promise<BrowserContext> {
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    viewport: { width: 1100, height: 800 },
    timeout: 30_000,
  });
  ctx.setDefaultTimeout(15_000);
  contexts.push(ctx);
  return ctx;
}

function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'web-client-chromium-'));
  dirs.push(d);
  return d;
}

async function ready(page: Page): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.ready === '1');
}

/** In-app navigation to `path` (history API, as the app's own links do), without waiting for the view. */
async function navigate(page: Page, path: string): Promise<void> {
  await page.evaluate((p) => {
    history.pushState(null, '', p);
    dispatchEvent(new PopStateEvent('popstate'));
  }, path);
}

async function go(page: Page, path: string): Promise<void> {
  // Same path already (the app navigated there itself): just wait for its view.
  await page.evaluate((p) => {
    if (location.pathname + location.search === p) return;
    delete document.body.dataset.ready;
    history.pushState(null, '', p);
    dispatchEvent(new PopStateEvent('popstate'));
  }, path);
  await ready(page);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Waits for `selector`; if the page shows an error instead, fails with that error's text. */
async function expectOrError(page: Page, selector: string): Promise<void> {
  const ok = page.waitForSelector(selector).then(() => null);
  const err = page.waitForSelector('main .error').then(async (e) => (await e.textContent()) ?? 'error');
  const outcome = await Promise.race([ok, err]);
  if (outcome !== null) {
    await shot(page, `error-${Date.now()}`);
    assert.fail(`the page shows an error instead of ${selector}: ${outcome}`);
  }
}

/** The browser holds Misago's session cookie for the edge, marked Secure (set by the api over TLS). */
async function assertSecureSession(ctx: BrowserContext): Promise<void> {
  const session = (await ctx.cookies()).find((c) => c.name === SESSION_COOKIE);
  assert.ok(session, `no ${SESSION_COOKIE} cookie after signing in`);
  assert.equal(session.secure, true, `${SESSION_COOKIE} is not Secure`);
}

async function register(page: Page, u: typeof A): Promise<void> {
  await page.goto(`${EDGE}/`);
  await ready(page);
  await page.click('#register-link');
  await page.fill('#reg-username', u.username);
  await page.fill('#reg-email', u.email);
  await page.fill('#reg-password', u.password);
  await page.click('#register-form button[type=submit]');
  await expectOrError(page, `#whoami:text-is("${u.username}")`);
}

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo: what --ignore-certificate-errors-spki-list takes */
function spkiHash(cert: X509Certificate): string {
  return createHash('sha256')
    .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}

/**
 * The certificate the edge presents, after Node has verified it against `ca` alone (chain and name: the handshake
 * fails otherwise). Chromium checks the allow-list against the certificates the server SENDS, and the edge sends its
 * own certificate without the CA's (secrets/generate.sh), so the CA's key alone would not match.
 */
function verifiedEdgeCert(ca: string): Promise<X509Certificate> {
  const u = new URL(EDGE);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({ host, port: Number(u.port || 443), ca, servername: isIP(host) ? undefined : host, timeout: 10_000 }, () => {
      const cert = new X509Certificate(sock.getPeerCertificate().raw);
      sock.end();
      resolve(cert);
    });
    sock.on('timeout', () => sock.destroy(new Error('TLS handshake timed out')));
    sock.on('error', (e) => reject(new Error(`the edge ${EDGE} does not present a certificate EDGE_TLS_CA=${EDGE_TLS_CA} verifies: ${e.message}`)));
  });
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  if (EDGE_TLS_CA && EDGE.startsWith('https:')) {
    const ca = readFileSync(EDGE_TLS_CA, 'utf8');
    const hashes = [spkiHash(new X509Certificate(ca)), spkiHash(await verifiedEdgeCert(ca))];
    ARGS.push(`--ignore-certificate-errors-spki-list=${hashes.join(',')}`);
  }
  // Fail fast with a clear message when the edge is not there.
  const res = await fetch(`${EDGE}/`).catch((e: Error) => {
    throw new Error(`edge ${EDGE} unreachable (${e.message}); deploy the stack or set EDGE_URL`);
  });
  assert.equal(res.status, 200, `GET ${EDGE}/ answered ${res.status}`);
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("When user A registers and starts a thread, then the thread page shows it with A's post", async () => {
  dirA = freshDir();
  const ctx = await launch(dirA);
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.goto(`${EDGE}/`);
  await ready(page);
  await page.waitForSelector('#categories li');
  await shot(page, '01-home-anonymous');
  await register(page, A);
  await shot(page, '02-registered-A');
  assert.ok(page.url().startsWith('https://'), `the page was not loaded over HTTPS: ${page.url()}`);
  await assertSecureSession(ctx);

  await page.click('#start-thread');
  await page.waitForSelector('#thread-form');
  await page.fill('#thread-title-input', TITLE);
  await page.fill('#thread-body', `Started by A ${tag}. The thread list paginates by cursor; how do posts page?`);
  await page.click('#thread-form button[type=submit]');
  await expectOrError(page, `#thread-title:text-is("${TITLE}")`);
  const m = /^\/t\/[^/]+\/(\d+)\/$/.exec(new URL(page.url()).pathname);
  threadId = Number(m?.[1]);
  assert.ok(threadId > 0, `not a /t/<slug>/<id>/ address: ${page.url()}`);
  threadPath = new URL(page.url()).pathname;
  assert.match(await page.textContent('#posts')!, new RegExp(`Started by A ${tag}`));

  await page.selectOption('#subscription', 'notify');
  await page.waitForSelector('#subscription-status:text-is("saved")');
  await shot(page, '03-thread-started-by-A');
});

test('When user B replies in another browser, then A sees the thread as unread', async () => {
  assert.ok(threadId > 0, 'needs the thread from the previous test');
  const ctxB = await launch(freshDir());
  const pb = ctxB.pages()[0] ?? (await ctxB.newPage());
  await register(pb, B);
  await go(pb, threadPath);
  await pb.fill('#reply-body', REPLY);
  await pb.click('#reply-form button[type=submit]');
  await expectOrError(pb, `#posts .post-body:has-text("${REPLY}")`);
  await shot(pb, '04-reply-by-B');

  const pa = contexts[0].pages()[0];
  await go(pa, '/list/unread/');
  const item = pa.locator(`#thread-list li[data-thread-id="${threadId}"]`);
  await item.waitFor();
  assert.equal(await item.getAttribute('data-unread'), '1');
  await shot(pa, '05-unread-for-A');

  await go(pa, '/list/subscribed/');
  await pa.locator(`#thread-list li[data-thread-id="${threadId}"]`).waitFor();
  await go(pa, '/list/my/');
  await pa.locator(`#thread-list li[data-thread-id="${threadId}"]`).waitFor();
  await go(pa, threadPath);
  await pa.waitForSelector(`#posts .post-body:has-text("${REPLY}")`);
  // having read it, A no longer has it unread
  await go(pa, '/list/unread/');
  assert.equal(await pa.locator(`#thread-list li[data-thread-id="${threadId}"]`).count(), 0);
});

test('When a thread has more than one page of posts, then the reader pages through them', async () => {
  assert.ok(threadId > 0, 'needs the thread from the first test');
  // 18 more posts from 6 API users (the API allows one post per user every 3 s).
  const posters = await Promise.all(
    Array.from({ length: 6 }, async (_, i) => {
      const api = await pwRequest.newContext({ baseURL: EDGE });
      const u = `wp${i}${tag}`;
      await api.get('/api/auth/');
      const csrf = async () => (await api.storageState()).cookies.find((c) => c.name === 'csrftoken')?.value ?? '';
      const r = await api.post('/api/users/', {
        data: { username: u, email: `${u}@example.com`, password: `pw-${u}-secret` },
        headers: { 'X-CSRFToken': await csrf() },
      });
      assert.equal(r.status(), 200, await r.text());
      return { api, csrf };
    }),
  );
  try {
    for (let round = 0; round < 3; round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, 3300)); // after the previous round completed
      await Promise.all(
        posters.map(async (p, i) => {
          const r = await p.api.post(`/api/threads/${threadId}/posts/`, {
            data: { post: `Filler post ${round}-${i} ${tag}` },
            headers: { 'X-CSRFToken': await p.csrf() },
          });
          assert.ok(r.ok(), `filler post: ${r.status()} ${await r.text()}`);
        }),
      );
    }
  } finally {
    await Promise.all(posters.map((p) => p.api.dispose()));
  }
  const pa = contexts[0].pages()[0];
  await go(pa, threadPath);
  assert.equal(await pa.textContent('#page-info'), 'Page 1 of 2');
  assert.equal(await pa.locator('#posts li.post').count(), 18);
  await pa.evaluate(() => delete document.body.dataset.ready);
  await pa.click('a[rel="next"]');
  await ready(pa);
  assert.equal(await pa.textContent('#page-info'), 'Page 2 of 2');
  assert.equal(await pa.locator('#posts li.post').count(), 2);
  assert.equal(new URL(pa.url()).pathname, `${threadPath}2/`, "page 2 has Misago's address /t/<slug>/<id>/2/");
  await shot(pa, '06-thread-page-2');
});

test('When the thread URL the API returns (/t/<slug>/<id>/) is opened, then the client shows that thread', async () => {
  assert.ok(threadId > 0, 'needs the thread from the first test');
  const api = (await (await fetch(`${EDGE}/api/threads/${threadId}/`)).json()) as { url: { index: string } };
  assert.match(api.url.index, /^\/t\/[a-z0-9-]+\/\d+\/$/);
  assert.equal(api.url.index, threadPath, "the client's address of the thread is the API's");
  // NGINX answers the app's paths with its index.html (never cached); the API's and the ops' paths stay theirs
  const res = await fetch(`${EDGE}${api.url.index}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  assert.match(res.headers.get('cache-control') ?? '', /no-cache/);
  assert.match(await res.text(), /<main id="app"/);
  assert.match((await fetch(`${EDGE}/api/threads/${threadId}/`)).headers.get('content-type') ?? '', /json/);

  // a new visitor (anonymous, cold browser) follows the link
  const ctx = await launch(freshDir());
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.goto(`${EDGE}${api.url.index}`);
  await ready(page);
  await expectOrError(page, `#thread-title:text-is("${TITLE}")`);
  assert.equal(new URL(page.url()).pathname, api.url.index);
  assert.equal(await page.textContent('#page-info'), 'Page 1 of 2');
  await shot(page, '06b-thread-by-url');
  // page 2 by its address, then back to the home page by a link and Back again: history routing end to end
  await page.goto(`${EDGE}${api.url.index}2/`);
  await ready(page);
  assert.equal(await page.textContent('#page-info'), 'Page 2 of 2');
  await page.evaluate(() => delete document.body.dataset.ready);
  await page.click('a.brand');
  await ready(page);
  await page.waitForSelector('#categories');
  assert.equal(new URL(page.url()).pathname, '/');
  await page.evaluate(() => delete document.body.dataset.ready);
  await page.goBack();
  await ready(page);
  assert.equal(await page.textContent('#page-info'), 'Page 2 of 2');
  // an old hash link (#/t/<id>) lands on the thread's address
  await page.goto(`${EDGE}/#/t/${threadId}`);
  await ready(page);
  await expectOrError(page, `#thread-title:text-is("${TITLE}")`);
  assert.equal(new URL(page.url()).pathname, api.url.index);
  assert.equal(new URL(page.url()).hash, '');
  await ctx.close();
});

test('When A logs out and in again, then the account area follows', async () => {
  const pa = contexts[0].pages()[0];
  await pa.click('#logout');
  await pa.waitForSelector('#login-link');
  // the app returns to the home page after logging out; let it get there before navigating on
  await pa.waitForFunction(() => location.pathname === '/' && document.body.dataset.ready === '1');
  await go(pa, '/login/');
  await pa.fill('#login-username', A.username);
  await pa.fill('#login-password', 'wrong-password-1');
  await pa.click('#login-form button[type=submit]');
  await pa.waitForSelector('#login-form .error');
  await pa.fill('#login-password', A.password);
  await pa.click('#login-form button[type=submit]');
  await pa.waitForSelector(`#whoami:text-is("${A.username}")`);
  // signed in through the login form over HTTPS: a new session cookie, Secure
  assert.ok(pa.url().startsWith('https://'), `the page was not loaded over HTTPS: ${pa.url()}`);
  await assertSecureSession(contexts[0]);
  // the category page lists the new thread
  await go(pa, '/');
  await pa.click('#categories li a');
  await pa.locator(`#thread-list li[data-thread-id="${threadId}"]`).waitFor();
  await shot(pa, '07-category-after-login');
});

test('When the reader clicks on while a page is still loading, then the slow page never replaces the new one', async () => {
  const pa = contexts[0].pages()[0];
  await pa.waitForSelector(`#whoami:text-is("${A.username}")`);
  await go(pa, '/list/all/');
  // Hold the home page's categories request until the new-thread form is on screen (a slow network, made exact).
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let held!: () => void;
  const holding = new Promise<void>((r) => (held = r));
  await pa.route('**/api/categories/', async (r) => {
    held();
    await gate;
    await r.continue();
  });
  try {
    await navigate(pa, '/');
    await holding;
    await go(pa, '/new/');
    await pa.waitForSelector('#thread-form');
    release();
    // the home view finishes later (its categories, then its thread list): it either renders over the form (the bug)
    // or is discarded, which the app records in data-discarded
    await pa.waitForFunction(() => !!document.body.dataset.discarded || !!document.getElementById('categories'));
    assert.equal(await pa.locator('#thread-form').count(), 1, 'the form of the later page is still shown');
    assert.equal(await pa.locator('#categories').count(), 0, 'the earlier, slower home page did not render over it');
  } finally {
    release();
    await pa.unroute('**/api/categories/');
  }
});

interface Asset {
  path: string;
  type: string;
}

async function assetsOfIndex(): Promise<{ html: string; headers: Headers; assets: Asset[] }> {
  const res = await fetch(`${EDGE}/`);
  const html = await res.text();
  const assets = [...html.matchAll(/(?:src|href)="(\/static\/[^"]+)"/g)].map((m) => ({ path: m[1], type: m[1].split('.').pop()! }));
  return { html, headers: res.headers, assets };
}

test('When static files are fetched, then they have content-hashed names, a 365-day public cache and gzip', async () => {
  const { headers, assets } = await assetsOfIndex();
  assert.ok(assets.some((a) => a.type === 'js') && assets.some((a) => a.type === 'css'), JSON.stringify(assets));
  // index.html must revalidate, or a deploy would leave browsers on old asset names
  assert.match(headers.get('cache-control') ?? '', /no-cache|max-age=0/, `index.html Cache-Control: ${headers.get('cache-control')}`);
  for (const a of assets) {
    assert.match(a.path, /^\/static\/[\w.-]+-[\w-]{8}\.(js|css)$/, `not content-hashed: ${a.path}`);
    const res = await fetch(`${EDGE}${a.path}`, { headers: { 'accept-encoding': 'gzip' } });
    await res.arrayBuffer();
    assert.equal(res.status, 200, a.path);
    const cc = res.headers.get('cache-control') ?? '';
    assert.match(cc, /public/, `${a.path} Cache-Control: ${cc}`);
    assert.match(cc, /no-transform/, `${a.path} Cache-Control: ${cc}`);
    const maxAge = Number(/max-age=(\d+)/.exec(cc)?.[1] ?? 0);
    assert.ok(maxAge >= 365 * 24 * 3600, `${a.path} max-age ${maxAge}`);
    const expires = Date.parse(res.headers.get('expires') ?? '');
    assert.ok(expires > Date.now() + 364 * 24 * 3600 * 1000, `${a.path} Expires: ${res.headers.get('expires')}`);
    assert.equal(res.headers.get('content-encoding'), 'gzip', `${a.path} not gzipped`);
  }
});

test('When A comes back in a restarted browser, then no static file is loaded from the server', async () => {
  assert.ok(dirA, "needs A's profile from the first test");
  const { assets } = await assetsOfIndex();
  await contexts[0].close();
  const ctx = await launch(dirA); // same --user-data-dir: same disk cache, same cookies
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  const urls = new Map<string, string>();
  const fromCache = new Set<string>();
  const fromNetwork = new Set<string>();
  cdp.on('Network.requestWillBeSent', (e: { requestId: string; request: { url: string } }) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.requestServedFromCache', (e: { requestId: string }) => fromCache.add(e.requestId));
  cdp.on('Network.responseReceived', (e: { requestId: string; response: { fromDiskCache?: boolean; fromPrefetchCache?: boolean; status: number } }) => {
    if (e.response.fromDiskCache || e.response.fromPrefetchCache) fromCache.add(e.requestId);
    else fromNetwork.add(e.requestId);
  });
  await page.goto(`${EDGE}/`);
  await ready(page);
  await shot(page, '08-repeat-visit-A');
  const statics = [...urls].filter(([, u]) => new URL(u).pathname.startsWith('/static/'));
  assert.equal(statics.length, assets.length, `expected the page to use its ${assets.length} static files: ${JSON.stringify(statics)}`);
  const loaded = statics.filter(([id]) => fromNetwork.has(id) && !fromCache.has(id)).map(([, u]) => u);
  assert.deepEqual(loaded, [], 'static files fetched from the server on a repeat visit');
});
