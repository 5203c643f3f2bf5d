// A forum client run inside a test network namespace (so NGINX sees its own address).
//   node client.mjs get <url>                 -> {"status": n}
//   node client.mjs bad-logins <base> <n>     -> {"statuses": [...]}  (CSRF cookie first, then n wrong passwords)
//   node client.mjs burst <method> <url> <n> <concurrency>
//                                             -> {"statuses": [...], "limited": {status, retryAfter, contentType, body}}
//      n requests (no cookies, empty JSON body for POST), at most <concurrency> at once; `limited` is the first 429
//   node client.mjs logins <base> <username> <password> <n> <concurrency>
//                                             -> {"statuses": [...], "codes": [...]}
//      the CSRF cookie first, then n logins of <username> with <password>, at most <concurrency> at once
// HTTPS: the certificate is verified against Node's CAs (with NODE_EXTRA_CA_CERTS) and the stack's CA in EDGE_TLS_CA
// (both inherited through `ip netns exec`). The namespace reaches the edge on the host side of its veth pair, an
// address the certificate cannot name (it exists only during the test), so EDGE_TLS_NAME gives the name the
// certificate is checked against (and sent as SNI) instead: the chain is verified as for any client, the name is one
// the certificate has.
import http from 'node:http';
import https from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

const [cmd, url, n] = process.argv.slice(2);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const { EDGE_TLS_CA, EDGE_TLS_NAME, NODE_EXTRA_CA_CERTS } = process.env;
const tlsOptions = {
  servername: EDGE_TLS_NAME || undefined,
  ...(EDGE_TLS_CA
    ? {
        ca: [
          ...rootCertificates,
          ...(NODE_EXTRA_CA_CERTS && existsSync(NODE_EXTRA_CA_CERTS) ? [readFileSync(NODE_EXTRA_CA_CERTS, 'utf8')] : []),
          readFileSync(EDGE_TLS_CA, 'utf8'),
        ],
      }
    : {}),
};
const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

/** A fetch-like request over node:http(s) (fetch cannot set the name a certificate is checked against). */
function request(target, { method = 'GET', headers = {}, body, signal } = {}) {
  const u = new URL(target);
  return new Promise((resolve, reject) => {
    const req = (u.protocol === 'https:' ? https : http).request(
      u,
      { method, headers, signal, agent: agents[u.protocol], ...(u.protocol === 'https:' ? tlsOptions : {}) },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const header = (name) => {
            const v = res.headers[name];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
          };
          resolve({
            status: res.statusCode,
            headers: { get: header, getSetCookie: () => res.headers['set-cookie'] ?? [] },
            text: async () => text,
            arrayBuffer: async () => Buffer.from(text),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
try {
  if (cmd === 'get') {
    const res = await request(url, { signal: AbortSignal.timeout(5000) });
    out({ status: res.status });
  } else if (cmd === 'bad-logins') {
    const first = await request(`${url}/api/auth/`, { signal: AbortSignal.timeout(5000) });
    const cookies = first.headers.getSetCookie().map((c) => c.split(';')[0]);
    const csrf = cookies.find((c) => c.startsWith('csrftoken='))?.slice('csrftoken='.length) ?? '';
    // n failed logins the API actually judged (400, or 429 for the one that trips the limit); answers of an API
    // replica that is unavailable (502/503/504) do not count and are retried, within 30 s in total
    const statuses = [];
    const started = Date.now();
    let counted = 0;
    for (let i = 0; counted < Number(n) && Date.now() - started < 30000 && i < 40; i++) {
      const res = await request(`${url}/api/auth/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: cookies.join('; '), 'x-csrftoken': csrf, referer: `${url}/` },
        body: JSON.stringify({ username: 'edge-test-nobody', password: `wrong-${i}` }),
        signal: AbortSignal.timeout(15000),
      });
      statuses.push(res.status);
      if (res.status === 400 || res.status === 429) counted++;
      await res.arrayBuffer();
    }
    process.stderr.write(`all statuses: ${statuses.join(',')}\n`);
    const judged = statuses.filter((s) => s === 400 || s === 429 || s === 403);
    out({ statuses: judged, all: statuses, at: Date.now() });
  } else if (cmd === 'burst') {
    const [, method, target, count, concurrency] = process.argv.slice(2);
    const statuses = [];
    let limited;
    let next = 0;
    const worker = async () => {
      while (next < Number(count)) {
        const i = next++;
        const res = await request(target, {
          method,
          headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
          body: method === 'POST' ? '{}' : undefined,
          signal: AbortSignal.timeout(15000),
        });
        const body = await res.text();
        statuses[i] = res.status;
        if (res.status === 429 && !limited) {
          limited = { status: res.status, retryAfter: res.headers.get('retry-after'), contentType: res.headers.get('content-type'), body };
        }
      }
    };
    await Promise.all(Array.from({ length: Number(concurrency) }, worker));
    out({ statuses, limited });
  } else if (cmd === 'logins') {
    const [, base, username, password, count, concurrency] = process.argv.slice(2);
    const first = await request(`${base}/api/auth/`, { signal: AbortSignal.timeout(5000) });
    const cookies = first.headers.getSetCookie().map((c) => c.split(';')[0]);
    const csrf = cookies.find((c) => c.startsWith('csrftoken='))?.slice('csrftoken='.length) ?? '';
    const statuses = [];
    const codes = [];
    let next = 0;
    const worker = async () => {
      while (next < Number(count)) {
        const i = next++;
        const res = await request(`${base}/api/auth/`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', cookie: cookies.join('; '), 'x-csrftoken': csrf, referer: `${base}/` },
          body: JSON.stringify({ username, password }),
          signal: AbortSignal.timeout(30000),
        });
        const text = await res.text();
        statuses[i] = res.status;
        try {
          codes[i] = JSON.parse(text).code ?? '';
        } catch {
          codes[i] = '';
        }
      }
    };
    await Promise.all(Array.from({ length: Number(concurrency) }, worker));
    out({ statuses, codes });
  } else throw new Error(`unknown command ${cmd}`);
} catch (err) {
  out({ error: err.message });
  process.exit(1);
}
