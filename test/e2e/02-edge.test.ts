// The edge itself: static files with long cache headers, security headers, JSON errors, stub_status not exposed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE_URL } from './support.js';

test('When index.html is requested, then it is served, never cached, with security headers and no NGINX version', async () => {
  const r = await fetch(`${EDGE_URL}/`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /text\/html/);
  assert.match(r.headers.get('cache-control') ?? '', /no-cache/);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.ok(r.headers.get('x-frame-options'));
  assert.ok(r.headers.get('content-security-policy'));
  assert.equal(r.headers.get('server'), 'nginx', 'server_tokens off: no version');
  const html = await r.text();
  assert.match(html, /\/static\/[^"']+\.js/, 'references hashed assets under /static/');
});

test('When a static asset is requested, then it comes gzipped with expires 365d and Cache-Control public, no-transform', async () => {
  const html = await (await fetch(`${EDGE_URL}/`)).text();
  const assets = [...html.matchAll(/["'](\/static\/[^"']+\.(?:js|css))["']/g)].map((m) => m[1]);
  assert.ok(assets.length > 0, 'index.html references assets');
  for (const path of assets) {
    const r = await fetch(`${EDGE_URL}${path}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(r.status, 200, path);
    const cc = r.headers.get('cache-control') ?? '';
    assert.match(cc, /public/, `${path}: ${cc}`);
    assert.match(cc, /no-transform/, `${path}: ${cc}`);
    assert.match(cc, /max-age=31536000/, `${path}: ${cc}`);
    const expires = Date.parse(r.headers.get('expires') ?? '');
    assert.ok(expires - Date.now() > 360 * 24 * 3600 * 1000, `${path}: Expires a year ahead`);
    assert.equal(r.headers.get('content-encoding'), 'gzip', `${path} gzipped`);
    await r.arrayBuffer();
  }
  const missing = await fetch(`${EDGE_URL}/static/does-not-exist-${Date.now()}.js`);
  assert.equal(missing.status, 404);
});

test('When the API fails a request, then the error comes back as JSON through the edge; when /metrics is asked, then it is not routed', async () => {
  const r = await fetch(`${EDGE_URL}/api/threads/999999999/`);
  assert.ok(r.status >= 400 && r.status < 500, String(r.status));
  const body = (await r.json()) as { detail?: string };
  assert.ok(body.detail);
  const m = await fetch(`${EDGE_URL}/metrics`);
  assert.equal(m.status, 404);
  await m.arrayBuffer();
  const s = await fetch(`${EDGE_URL}/nginx_status`);
  assert.doesNotMatch(await s.text(), /Active connections/, 'stub_status only on the internal port');
});

test('When a body exceeds the client body limit, then the answer is 413 JSON', async () => {
  const big = 'x'.repeat(11 * 1024 * 1024);
  const r = await fetch(`${EDGE_URL}/api/threads/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
  assert.equal(r.status, 413);
  const body = (await r.json()) as { code?: string };
  assert.equal(body.code, 'request_too_large');
});

test('When a webhook path is called without its bearer token, then it reaches ipblock or the autoscaler, which refuses it', async () => {
  for (const path of ['/ops/ipblock/v1/blocks', '/ops/autoscaler/v1/hooks/kapacitor']) {
    const r = await fetch(`${EDGE_URL}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.ok(r.status === 401 || r.status === 403, `${path}: ${r.status}`);
    await r.arrayBuffer();
  }
});
