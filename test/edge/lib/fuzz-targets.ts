// Request generators for the edge fuzz (test/edge/fuzz.test.ts): one per target (forum API, ipblock webhook,
// autoscaler webhook), drawing from @forum/test-support's seeded Prng, plus the guards that keep a fuzz run from
// changing what it must not on a shared stack. The requests are raw bytes (rawHead), so path tricks reach NGINX as
// written.
import qs from 'qs';
import { BAD_JSON, CONTENT_TYPES, ODD_SCALARS, deepJson, type Prng } from '@forum/test-support';
import { BlockPolicy } from '../../../services/ipblock/src/ip-policy.js';
import { parseAlertmanager, parseDirect, parseKapacitor, parseKibana, type HookContext, type Intent } from '../../../services/autoscaler/src/hooks.js';

export type Target = 'api' | 'ipblock' | 'autoscaler';
export type TokenKind = 'none' | 'valid' | 'invalid';

export interface FuzzRequest {
  target: Target;
  method: string;
  /** the request target exactly as sent */
  path: string;
  headers: [string, string][];
  body?: Buffer;
  version: string;
  token: TokenKind;
  /** what was drawn, for the failure report */
  kind: string;
  /** a guard rewrote the drawn request so it cannot change state (see the guards below) */
  defused?: boolean;
}

/** What the generators need from the running stack. */
export interface FuzzContext {
  host: string;
  tokens: { ipblock: string; autoscaler: string };
  /** a signed-in user's cookies and CSRF token (never used on logout paths, so it stays signed in) */
  user: { cookie: string; csrf: string; id: number; threadId: number; postId: number };
  /** an anonymous visitor's CSRF cookie (NGINX hands it out) */
  anonCsrf: string;
}

const enc = encodeURIComponent;

// ------------------------------------------------------------------------------------------------ path tricks

/**
 * Rewrites a path the way attackers probe proxies: dot segments (plain, percent-encoded, overlong UTF-8), double
 * slashes, backslashes, NUL bytes, path parameters, overlong segments, case changes, absolute-form targets.
 * `prefix` is the location the path lives under (e.g. /ops/ipblock/v1), for tricks that climb out of it.
 */
const TRICKS: readonly ((p: Prng, path: string, prefix: string) => string)[] = [
  (_p, path) => path.replace(/\//g, '//'),
  (_p, path) => path.replace(/^\//, '///'),
  (_p, path, prefix) => `${prefix}/../${path.slice(1)}`,
  (_p, path, prefix) => `${prefix}/%2e%2e/${path.slice(1)}`,
  (_p, path, prefix) => `${prefix}/%2E%2E%2F${path.slice(1)}`,
  (_p, path, prefix) => `${prefix}/..%2f..%2f${path.slice(1)}`,
  (_p, _path, prefix) => `${prefix}/../metrics`,
  (_p, _path, prefix) => `${prefix}/%2e%2e/metrics`,
  (_p, _path, prefix) => `${prefix}/..%2fmetrics`,
  (_p, _path, prefix) => `${prefix}/%2e%2e/healthcheck/ready/`,
  (_p, _path, prefix) => `${prefix}/..;/metrics`,
  (_p, _path, prefix) => `${prefix}/%c0%ae%c0%ae/metrics`,
  (_p, _path, prefix) => `${prefix}/%252e%252e/metrics`,
  (_p, _path, prefix) => `${prefix}/..\\..\\metrics`,
  (_p, path) => `/ops/ipblock/v1/../../autoscaler/v1/${path.split('/').pop()}`,
  (_p, path) => `/ops/autoscaler/v1/%2e%2e/%2e%2e/ipblock/v1/${path.split('/').pop()}`,
  (_p, path) => `/ops/x/../..${path}`,
  (_p, path) => `/api/../..${path}`,
  (_p, path) => `${path}/.`,
  (_p, path) => path.replace(/\/$/, '/./'),
  (_p, path) => `${path};jsessionid=x`,
  (_p, path) => `${path}%00`,
  (_p, path) => `${path}\u0000.json`,
  (_p, path) => `${path}%00/../x`,
  (_p, path) => `${path}%`,
  (_p, path) => `${path}%zz`,
  (_p, path) => `${path}%E2%98%83%ff%fe`,
  (_p, path) => `${path}\u2603`,
  (_p, path) => `${path}#frag`,
  (_p, path) => `${path}?${'a=1&'.repeat(2000)}`,
  (_p, path) => path.toUpperCase(),
  (_p, path) => path.replace(/\//g, '\\'),
  (_p, path) => path.replace(/\//g, '%2f'),
  (p, path) => `${path}${'a'.repeat(p.pick([300, 2000, 4000, 7900, 9000, 20_000]))}`,
  (p, path) => `${path}${'../'.repeat(p.pick([10, 500, 3000]))}`,
  (p, path) => `${path}${'x/'.repeat(p.pick([100, 2000, 5000]))}`,
  (_p, path) => `http://127.0.0.1${path}`,
  (_p, path) => `http://ipblock:8080${path}`,
  (_p, path) => `//evil.example${path}`,
  (_p, path) => path.slice(1),
  () => '*',
  () => '',
];

function tricked(p: Prng, path: string, prefix: string): { path: string; trick: string } {
  if (!p.chance(0.35)) return { path, trick: '' };
  const i = p.int(TRICKS.length);
  return { path: TRICKS[i](p, path, prefix), trick: `trick${i}` };
}

// ------------------------------------------------------------------------------------------------ methods, headers

const METHODS = ['GET', 'GET', 'POST', 'POST', 'POST', 'PUT', 'PATCH', 'PATCH', 'DELETE', 'DELETE', 'OPTIONS', 'HEAD'] as const;
const ODD_METHODS = ['TRACE', 'CONNECT', 'PROPFIND', 'MKCOL', 'LOCK', 'PURGE', 'FOO', 'get', 'Post', 'G\u0000ET', 'X'.repeat(200), 'BREW', 'DEBUG', 'QUERY'];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'HTTP/9.9', 'HTTPS/1.1', 'HTTP/1.1x'];

/** Extra headers: forged client addresses, junk cookies, odd hosts, oversize values, smuggling-style framing. */
const ODD_HEADERS: readonly ((p: Prng) => [string, string][])[] = [
  (p) => [['X-Forwarded-For', p.pick(['not-an-ip', '203.0.113.9', '::1', '1.2.3.4, 5.6.7.8', '', '127.0.0.1', '10.0.0.1'])]],
  (p) => [['X-Real-IP', p.pick(['127.0.0.1', 'garbage', '::'])]],
  (p) => [['X-Forwarded-Proto', p.pick(['https', 'gopher', ''])]],
  (p) => [['Cookie', p.pick(['sessionid=garbage', 'sessionid=a.b', `sessionid=${'x'.repeat(32)}.${'y'.repeat(32)}`, '%%%', 'csrftoken=short', '=', ';;;'])]],
  (p) => [['Cookie', `junk=${'z'.repeat(p.pick([100, 4000, 9000]))}`]],
  (p) => [['X-Junk', 'y'.repeat(p.pick([100, 5000, 9000, 40_000]))]],
  (p) => Array.from({ length: p.pick([50, 200]) }, (_, i) => [`X-Many-${i}`, String(i)] as [string, string]),
  (p) => [['X-CSRFToken', p.pick(['', 'wrong', 'x'.repeat(5000)])]],
  () => [['Expect', '100-continue']],
  () => [['Content-Encoding', 'gzip']],
  () => [['Content-Encoding', 'br, x-unknown']],
  () => [['Accept-Encoding', 'gzip, deflate, br, *;q=0']],
  () => [['Range', 'bytes=0-0,-1,1-2,3-4']],
  () => [['If-None-Match', '*']],
  () => [['Origin', 'https://evil.example']],
  () => [['Referer', 'javascript:alert(1)']],
  () => [['X-HTTP-Method-Override', 'DELETE']],
  () => [['Upgrade', 'websocket']],
  () => [['Connection', 'Upgrade, keep-alive']],
  () => [['X-Request-ID', '\u00ff'.repeat(100)]],
  () => [['Header With Space', 'x']],
  () => [['X-Nul', 'a\u0000b']],
];

const ODD_HOSTS = ['', 'evil.example', 'ipblock:8080', 'autoscaler', '127.0.0.1:1', 'a'.repeat(300), '[::1]', '..', 'host with space', '\u00e9.example'];

/** Authorization for a webhook target, and which kind it is. */
function authorization(p: Prng, token: string): { headers: [string, string][]; kind: TokenKind } {
  const r = p.next();
  if (r < 0.3) return { headers: [], kind: 'none' };
  if (r < 0.62) return { headers: [['Authorization', `Bearer ${token}`]], kind: 'valid' };
  if (r < 0.67) return { headers: [['Authorization', `bearer   ${token}  `]], kind: 'valid' };
  // NGINX refuses a repeated Authorization header (400) before any service sees it: a few are enough
  if (r < 0.69)
    return {
      headers: [
        ['Authorization', `Bearer ${token}`],
        ['Authorization', 'Bearer wrong'],
      ],
      kind: 'valid',
    };
  const bad = p.pick([
    'Bearer wrong-token',
    'Bearer ',
    'Bearer',
    `Bearer ${token}x`,
    `Bearer ${token.slice(0, -1)}`,
    `Bearer ${token.toUpperCase()}`,
    `Basic ${Buffer.from(`x:${token}`).toString('base64')}`,
    `Token ${token}`,
    `Bearer ${'t'.repeat(10_000)}`,
    'Bearer \u0000',
    'Bearer %00',
    `Bearer ${token}\u0000`,
  ]);
  if (r < 0.71)
    return {
      headers: [
        ['Authorization', 'Bearer wrong'],
        ['Authorization', `Bearer ${token}`],
      ],
      kind: 'invalid',
    };
  return { headers: [['Authorization', bad]], kind: 'invalid' };
}

// ------------------------------------------------------------------------------------------------ bodies

/** A body and the content type it goes with: JSON of the target's shapes with odd values, broken JSON, huge, non-JSON. */
function body(p: Prng, shaped: (p: Prng) => unknown): { body?: Buffer; ct?: string; kind: string } {
  const r = p.next();
  let text: string;
  let kind: string;
  if (r < 0.45) {
    text = JSON.stringify(shaped(p));
    kind = 'shaped';
  } else if (r < 0.7) {
    text = p.draw(BAD_JSON);
    kind = 'badjson';
  } else if (r < 0.77) {
    text = JSON.stringify({ ...(shaped(p) as object), pad: 'p'.repeat(p.pick([300_000, 600_000, 1_100_000, 2_000_000])) });
    kind = 'huge';
  } else if (r < 0.775) {
    // over NGINX's client_max_body_size (10 MB): refused at the edge (rare: 11 MB each, NGINX still reads them)
    return { body: Buffer.alloc(10 * 1024 * 1024 + 1 + p.int(1024 * 1024), 0x20), ct: 'application/json', kind: 'over-limit' };
  } else if (r < 0.84) {
    // built as text: JSON.stringify itself recurses and overflows at this depth
    text = `{"${p.pick(['title', 'post', 'ip', 'buckets', 'service', 'alerts', 'data'])}": ${deepJson(p.pick([100, 1000, 5000, 50_000]))}}`;
    kind = 'deep';
  } else if (r < 0.88) {
    return { body: Buffer.from(Array.from({ length: p.pick([1, 100, 5000]) }, () => p.int(256))), ct: p.pick(CONTENT_TYPES), kind: 'binary' };
  } else if (r < 0.92) {
    text = p.pick(['a=1&b=2', 'ip=10.9.9.9&reason=x', '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--', '<xml/>']);
    kind = 'form';
  } else if (r < 0.95) {
    return { kind: 'nobody' };
  } else {
    text = JSON.stringify(shaped(p));
    return { body: Buffer.from(text, 'utf16le'), ct: 'application/json; charset=utf-16', kind: 'utf16' };
  }
  return { body: Buffer.from(text, 'utf8'), ct: p.chance(0.7) ? 'application/json' : p.pick(CONTENT_TYPES), kind };
}

const odd = (p: Prng) => p.pick(ODD_SCALARS);

/**
 * An object of `fields` with values from their lists, some left out, some replaced by odd scalars, sometimes an extra
 * key. How odd is drawn per object: a near-valid one (list values only) gets past the type checks to the handler's
 * own rules (policy, lookups), a very odd one tests the type checks themselves.
 */
function shapedObject(p: Prng, fields: Record<string, readonly unknown[]>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const oddness = p.pick([0, 0.1, 0.4, 0.6]);
  for (const [k, vs] of Object.entries(fields)) {
    if (p.chance(0.1)) continue;
    o[k] = p.chance(oddness) ? odd(p) : p.pick(vs);
  }
  if (p.chance(0.1)) o[p.pick(['extra', '__proto__', 'constructor', 'x'.repeat(300), ''])] = odd(p);
  return o;
}

// ------------------------------------------------------------------------------------------------ assembly

function assemble(
  p: Prng,
  ctx: FuzzContext,
  target: Target,
  method: string,
  path: string,
  prefix: string,
  b: { body?: Buffer; ct?: string; kind: string },
  auth: { headers: [string, string][]; kind: TokenKind },
  extra: [string, string][],
  kind: string,
): FuzzRequest {
  const t = tricked(p, path, prefix);
  let m = method;
  if (p.chance(0.05)) m = p.pick(ODD_METHODS);
  const version = p.chance(0.04) ? p.pick(VERSIONS) : 'HTTP/1.1';
  const headers: [string, string][] = [];
  const hostMode = p.next();
  if (hostMode < 0.03) {
    // no Host header
  } else if (hostMode < 0.07) headers.push(['Host', p.pick(ODD_HOSTS)]);
  else if (hostMode < 0.09) headers.push(['Host', ctx.host], ['Host', 'evil.example']);
  else headers.push(['Host', ctx.host]);
  headers.push(['Connection', 'close'], ['User-Agent', 'forum-edge-fuzz'], ...auth.headers, ...extra);
  if (p.chance(0.12)) headers.push(...p.draw(ODD_HEADERS));
  let bytes = b.body;
  if (bytes !== undefined) {
    if (b.ct) headers.push(['Content-Type', b.ct]);
    const framing = p.next();
    if (framing < 0.06) {
      // chunked, well-formed
      headers.push(['Transfer-Encoding', 'chunked']);
      bytes = Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n0\r\n\r\n')]);
    } else if (framing < 0.08) {
      // a chunk size that is no number: answered 400 at once (never a short body, which would wait out a timeout)
      headers.push(['Transfer-Encoding', 'chunked']);
      bytes = Buffer.concat([Buffer.from('zz\r\n'), bytes, Buffer.from('\r\n0\r\n\r\n')]);
    } else if (framing < 0.1) {
      // both framings (request smuggling's classic): NGINX must refuse or pick one, never pass both on
      headers.push(['Content-Length', String(bytes.length)], ['Transfer-Encoding', 'chunked']);
      bytes = Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n0\r\n\r\n')]);
    } else if (framing < 0.12) {
      headers.push(['Content-Length', String(bytes.length)], ['Content-Length', String(bytes.length + 5)]);
    } else if (framing < 0.13) {
      headers.push(['Content-Length', p.pick(['-1', 'abc', '1e3', '99999999999999999999'])]);
    } else {
      headers.push(['Content-Length', String(bytes.length)]);
    }
  } else if (method !== 'GET' && method !== 'HEAD' && p.chance(0.5)) {
    headers.push(['Content-Length', '0']);
  }
  return {
    target,
    method: m,
    path: t.path,
    headers,
    body: bytes,
    version,
    token: auth.kind,
    kind: [kind, b.kind, t.trick, m === method ? '' : 'oddmethod', version === 'HTTP/1.1' ? '' : version].filter(Boolean).join('/'),
  };
}

// ------------------------------------------------------------------------------------------------ forum API

const API_IDS = ['0', '-1', 'abc', '1e5', '99999999999999', '2147483648', '%00', '..%2F..', '%E2%98%83', '1.5', '%201', 'null', 'x'.repeat(300), '1%00'];
const API_FIELDS: Record<string, readonly unknown[]> = {
  username: ['', 'a', 'ab', 'x'.repeat(300), 'admin', ' admin '],
  password: [1, null, [], ''],
  email: ['not-an-email', '@', 'a@b', 'x'.repeat(300) + '@example.com'],
  title: ['', 'a', 'x'.repeat(300), '<b>t</b>'],
  post: ['', 'x', 'y'.repeat(600_000)],
  category: [0, -1, '3', 3.5, 99999, null, [3]],
  attachments: [[], [1], 'x', null],
  close: [true, 'yes', 1],
  hide: [true, 'no'],
  pin: [0, 1, 2, 3, 'globally'],
};
const PATCH_OPS = ['replace', 'add', 'remove', 'move', 'test', 1, null];
const PATCH_PATHS = ['subscription', 'title', 'weight', 'is-closed', 'is-hidden', 'bogus', 'acl', 5, null, '__proto__'];

export function apiRequest(p: Prng, ctx: FuzzContext): FuzzRequest {
  const id = () => (p.chance(0.3) ? String(p.pick([ctx.user.id, ctx.user.threadId, ctx.user.postId])) : p.pick(API_IDS));
  const paths: (() => string)[] = [
    () => '/api/auth/',
    () => '/api/auth/criteria/',
    () => '/api/users/',
    () => `/api/users/${id()}/`,
    () => `/api/users/${id()}/ban/`,
    () => '/api/categories/',
    () =>
      `/api/threads/?${p.pick(['list', 'category', 'start', 'list[]', 'category[x]', 'start[]', 'page[a][b]'])}=${p.pick([...API_IDS, 'my', 'new', 'all', ''])}&${p.pick(['category', 'start', 'page'])}=${id()}`,
    () => '/api/threads/',
    () => '/api/threads/editor/',
    () => `/api/threads/${id()}/`,
    () => `/api/threads/${id()}/posts/?page=${id()}`,
    () => `/api/threads/${id()}/posts/reply_editor/`,
    () => `/api/threads/${id()}/posts/${id()}/`,
    () => `/api/threads/${id()}/posts/${id()}/read/`,
    () => `/api/${id()}/`,
    () => `/api/threads/${id()}`,
    () => '/logout/',
    () => '/api/auth/logout/',
    () => '/healthcheck/',
    () => `/healthcheck/${p.pick(['ready/', 'live/', '../metrics', 'x'])}`,
    () => '/metrics',
  ];
  const path = p.draw(paths);
  const method = p.pick(METHODS);
  const shaped = (q: Prng) =>
    q.chance(0.25)
      ? Array.from({ length: q.pick([1, 2, 12]) }, () => ({ op: q.pick(PATCH_OPS), path: q.pick(PATCH_PATHS), value: odd(q) }))
      : shapedObject(q, API_FIELDS);
  const b = method === 'GET' || method === 'HEAD' ? (p.chance(0.1) ? body(p, shaped) : { kind: 'nobody' }) : body(p, shaped);
  // who: the signed-in user (never on logout paths, so the session survives the run), an anonymous visitor, nobody
  const who = /logout/.test(path) ? p.pick(['anon', 'none']) : p.pick(['user', 'user', 'anon', 'none']);
  const extra: [string, string][] = [];
  if (who === 'user') {
    extra.push(['Cookie', ctx.user.cookie]);
    if (p.chance(0.8)) extra.push(['X-CSRFToken', ctx.user.csrf]);
  } else if (who === 'anon') {
    extra.push(['Cookie', `csrftoken=${ctx.anonCsrf}`]);
    if (p.chance(0.8)) extra.push(['X-CSRFToken', ctx.anonCsrf]);
  }
  if (p.chance(0.1)) extra.push(['Authorization', p.pick(['Bearer wrong', 'Basic YWRtaW46YWRtaW4=', 'Bearer'])]);
  const req = assemble(p, ctx, 'api', method, path, '/api', b, { headers: [], kind: 'none' }, extra, `api:${who}`);
  return guardLogin(req);
}

/**
 * A well-formed login (string username and password) that fails counts toward the API's brute-force limit, and 8
 * from one address get it blocked by ipblock: the fuzz must not lock the test host out. So a body with both as
 * strings gets a password of the wrong type (still a malformed request, judged before any login attempt). The
 * check is on the body alone, whatever the path: path tricks may route any request to /api/auth/.
 */
export function guardLogin(req: FuzzRequest): FuzzRequest {
  const o = jsonOf(req.body);
  if (!o || typeof o !== 'object' || Array.isArray(o)) return req;
  const rec = o as Record<string, unknown>;
  if (typeof rec.username !== 'string' || typeof rec.password !== 'string') return req;
  return rebody(req, JSON.stringify({ ...rec, password: 12345 }));
}

// ------------------------------------------------------------------------------------------------ ipblock

/**
 * Addresses the generators use: none can be blocked (refused ranges, too-broad prefixes, malformed). The guard below
 * checks every string of every request that carries the valid token against the service's own policy anyway.
 */
const IPS = [
  '10.1.2.3',
  '10.0.0.0/8',
  '127.0.0.1',
  '127.0.0.1/32',
  '192.168.1.1/24',
  '172.16.0.0/12',
  '172.18.0.1',
  '0.0.0.0',
  '0.0.0.0/0',
  '10.0.0.0/4',
  '127.0.0.0/1',
  '::1',
  '::',
  '::/0',
  '::/1',
  'fe80::1',
  'fe80::1%eth0',
  '::ffff:10.0.0.1',
  '::ffff:127.0.0.1',
  'fd00::1',
  '100.64.0.1',
  '224.0.0.1',
  '255.255.255.255',
  '256.1.1.1',
  '1.2.3',
  '1.2.3.4.5',
  '0x7f.0.0.1',
  '127.1',
  '017700000001',
  '2130706433',
  '10.2.3.4/33',
  '10.2.3.4/-1',
  '10.2.3.4/',
  '10.2.3.4//24',
  ' 10.0.0.1 ',
  '10.0.0.1\n',
  'not-an-ip',
  'localhost',
  '',
  ' ',
  'x'.repeat(100),
  '::ffff:',
  ':::1',
  '1::2::3',
  '１.２.３.４',
];

export function ipblockRequest(p: Prng, ctx: FuzzContext): FuzzRequest {
  const ip = () => p.pick(IPS);
  const int = () => p.pick(['', '0', '1', '2', '-1', '1.5', '301', '1e2', 'abc', '99999999999999999', '%00', '[]']);
  const paths: [string, string, (q: Prng) => unknown][] = [
    [
      '/ops/ipblock/v1/blocks',
      p.pick(['GET', 'POST', 'PUT', 'DELETE']),
      (q) => shapedObject(q, { ip: IPS, ttlSeconds: [60, 3600, 0, -5, 1.5, 1e9, '60'], reason: ['fuzz', 'edge fuzz', '', ' ', 'r'.repeat(600)] }),
    ],
    [`/ops/ipblock/v1/blocks?since=${int()}&wait=${int()}`, 'GET', () => ({})],
    [`/ops/ipblock/v1/blocks?${p.pick(['since[]=1&wait=1', 'since=1&since=2', 'wait[a]=1', 'since=__proto__'])}`, 'GET', () => ({})],
    [`/ops/ipblock/v1/blocks/${p.chance(0.5) ? enc(ip()) : ip()}`, p.pick(['DELETE', 'DELETE', 'GET', 'POST']), () => ({})],
    [
      '/ops/ipblock/v1/hooks/watcher',
      'POST',
      (q) => ({
        ...shapedObject(q, {
          source: ['watcher', 'kibana', 1],
          watchId: ['w', 'x'.repeat(300)],
          windowSeconds: [30, -1, '30', 'x'],
          ttlSeconds: [60, -1, '60'],
        }),
        buckets: q.chance(0.8)
          ? Array.from({ length: q.pick([0, 1, 3, 1001]) }, () => shapedObject(q, { key: IPS, doc_count: [8, 100, -1, '9', 'x'] }))
          : odd(q),
      }),
    ],
    [
      '/ops/ipblock/v1/hooks/kibana',
      'POST',
      (q) =>
        shapedObject(q, { source: ['kibana', 'watcher'], ip: IPS, count: [8, 100, 0, -1, '50', 'many'], windowSeconds: [30, 'x'], ttlSeconds: [60, 1e12, -1] }),
    ],
    [`/ops/ipblock/v1/${p.pick(['', 'hooks/', 'hooks/x', 'blocks/', 'BLOCKS', 'metrics', 'healthcheck/', '..'])}`, p.pick(METHODS), (q) => odd(q)],
    [`/ops/ipblock/${p.pick(['', 'metrics', 'healthcheck/', 'v2/blocks', 'v1'])}`, p.pick(METHODS), (q) => odd(q)],
  ];
  const [path, method, shaped] = p.pick(paths);
  const b = method === 'GET' || method === 'HEAD' ? (p.chance(0.1) ? body(p, shaped) : { kind: 'nobody' }) : body(p, shaped);
  const auth = authorization(p, ctx.tokens.ipblock);
  const req = assemble(p, ctx, 'ipblock', method, path, '/ops/ipblock/v1', b, auth, [], `ipblock:${path.split('?')[0].split('/').slice(3, 5).join('/')}`);
  return req.token === 'valid' ? guardIpblock(req) : req;
}

const policy = new BlockPolicy();

/** Whether `s` is an address ipblock would actually block (its own policy, as deployed: no allow list). */
function blockable(s: string): boolean {
  try {
    policy.check(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * With the valid token a request could block or unblock a real address (a block reloads every NGINX and may lock
 * someone out). Every string of the body, path and query must therefore be unblockable; the generators only draw such
 * values, so a hit is a generator bug and throws rather than being rewritten silently.
 */
export function guardIpblock(req: FuzzRequest): FuzzRequest {
  const strings: string[] = [];
  // addresses sit at most 3 levels deep in any body ipblock takes; the fuzz nests far deeper than a stack allows
  const walk = (v: unknown, depth = 0) => {
    if (typeof v === 'string') strings.push(v);
    else if (v && typeof v === 'object' && depth < 50)
      for (const [k, x] of Object.entries(v)) {
        strings.push(k);
        walk(x, depth + 1);
      }
  };
  walk(jsonOf(req.body));
  const raw = req.path.split(/[/?&=]/);
  for (const s of raw) {
    strings.push(s);
    try {
      strings.push(decodeURIComponent(s));
    } catch {
      // not decodable: ipblock answers 400 for it
    }
  }
  const hit = strings.find(blockable);
  if (hit !== undefined)
    throw new Error(`fuzz generator bug: the blockable address ${JSON.stringify(hit)} in a request with the valid ipblock token (${req.kind})`);
  return req;
}

// ------------------------------------------------------------------------------------------------ autoscaler

/** Service names: malformed or absent. A parseable request with the valid token is defused by the guard below anyway. */
const SERVICES = ['fuzz-no-such-service', 'no_such.svc', '', ' ', '..', '.hidden', '-x', '_x', 'x;y', 'a b', '${x}', 'x'.repeat(70), 'API', 'ap%00i', 'ａｐｉ'];
const DIRECTIONS = ['sideways', 'UP ', 'upp', '', 'left', 1, null, ['up'], { d: 'up' }];

export function autoscalerRequest(p: Prng, ctx: FuzzContext): FuzzRequest {
  const svc = () => p.pick(SERVICES);
  const query = () =>
    p.chance(0.5)
      ? ''
      : `?${p.pick([
          `service=${enc(svc())}&direction=${p.pick(['sideways', '', 'up%00', 'UP!'])}`,
          `service[]=${enc(svc())}&direction[]=x`,
          `service[a][b]=1&scale=${p.pick(['', 'x', 'down%20up'])}`,
          `recovery=${p.pick(['reverse', 'ignore', 'x', '', 'reverse&recovery=ignore'])}`,
          'service=__proto__&direction=constructor',
          `${'q=1&'.repeat(500)}`,
        ])}`;
  const labels = (q: Prng) =>
    shapedObject(q, { autoscale_service: SERVICES, autoscale_direction: DIRECTIONS, alertname: ['fuzz_rule', '', 'x'.repeat(300)], service: SERVICES });
  const paths: [string, string, (q: Prng) => unknown][] = [
    ['/ops/autoscaler/v1/services', p.pick(['GET', 'GET', 'POST', 'DELETE']), (q) => odd(q)],
    [`/ops/autoscaler/v1/services/${p.chance(0.5) ? enc(svc()) : svc()}`, p.pick(['GET', 'GET', 'PUT', 'DELETE', 'PATCH']), (q) => odd(q)],
    [
      `/ops/autoscaler/v1/services/${p.chance(0.5) ? enc(svc()) : svc()}/scale`,
      p.pick(['POST', 'POST', 'GET', 'PUT']),
      (q) => shapedObject(q, { direction: DIRECTIONS, reason: ['', 'fuzz', 'r'.repeat(600)] }),
    ],
    [
      `/ops/autoscaler/v1/hooks/kapacitor${query()}`,
      'POST',
      (q) => ({
        ...shapedObject(q, {
          id: ['autoscale:fuzz-no-such-service:sideways', 'autoscale::up', 'fuzz_rule', '', 'x'.repeat(300)],
          level: ['BOGUS', 'critical', '', 5],
          message: ['m', 'x'.repeat(5000)],
          duration: ['1s', -1],
          recoverable: ['yes'],
        }),
        data: q.chance(0.7) ? { series: q.chance(0.8) ? [{ name: odd(q), tags: labels(q) }] : odd(q) } : odd(q),
      }),
    ],
    [
      `/ops/autoscaler/v1/hooks/alertmanager${query()}`,
      'POST',
      (q) => ({
        ...shapedObject(q, { status: ['FIRING', 'resolved?', '', 1], groupLabels: [{}, []], commonAnnotations: [{ summary: 1 }] }),
        commonLabels: labels(q),
        alerts: q.chance(0.8)
          ? Array.from({ length: q.pick([0, 1, 3, 500]) }, () => ({ ...shapedObject(q, { status: ['x'], startsAt: [1] }), labels: labels(q) }))
          : odd(q),
      }),
    ],
    [
      `/ops/autoscaler/v1/hooks/kibana${query()}`,
      'POST',
      (q) =>
        shapedObject(q, { service: SERVICES, direction: DIRECTIONS, state: ['RECOVERED', 'active', 1], reason: ['r'.repeat(2000)], rule: [{ name: 1 }, 'x'] }),
    ],
    [`/ops/autoscaler/v1/${p.pick(['', 'hooks/', 'hooks/x', 'services/', 'metrics', '..'])}`, p.pick(METHODS), (q) => odd(q)],
    [`/ops/autoscaler/${p.pick(['', 'metrics', 'healthcheck/', 'v2/services', 'v1'])}`, p.pick(METHODS), (q) => odd(q)],
  ];
  const [path, method, shaped] = p.pick(paths);
  const b = method === 'GET' || method === 'HEAD' ? (p.chance(0.1) ? body(p, shaped) : { kind: 'nobody' }) : body(p, shaped);
  const auth = authorization(p, ctx.tokens.autoscaler);
  const req = assemble(
    p,
    ctx,
    'autoscaler',
    method,
    path,
    '/ops/autoscaler/v1',
    b,
    auth,
    [],
    `autoscaler:${path.split('?')[0].split('/').slice(3, 5).join('/')}`,
  );
  return req.token === 'valid' ? guardAutoscaler(req) : req;
}

// the conservative reading: any alert id names a rule, recoveries may be reversed
const anyRule: HookContext['targetOf'] = () => ({ service: 'x', direction: 'up' });
const CONTEXTS: HookContext[] = [
  { recovery: 'ignore', targetOf: anyRule },
  { recovery: 'reverse', targetOf: anyRule },
];

/** Whether the autoscaler would act on this body and query: a decision reaches Docker and Slack (even "unknown service"). */
function actionable(body: unknown, query: Record<string, unknown>): boolean {
  const acts = (f: () => Intent[]) => {
    try {
      return f().some((i) => !i.ignore);
    } catch {
      return false;
    }
  };
  if (acts(() => [parseDirect('x', body)])) return true;
  return CONTEXTS.some((c) => [parseKapacitor, parseAlertmanager, parseKibana].some((parse) => acts(() => parse(body, query, c))));
}

/**
 * With the valid token a parseable request becomes a decision: the autoscaler looks the service up, may scale it and
 * posts every non-ignored decision to Slack. So such a request is defused: first its query (express parses it with
 * qs), then its body (cut short: invalid JSON). Judged conservatively, whatever the path: a body Express does not parse
 * as JSON reaches the handler as {}, and every alert id may be a rule.
 */
export function guardAutoscaler(req: FuzzRequest): FuzzRequest {
  const qi = req.path.indexOf('?');
  const query = () => (qi === -1 ? {} : (qs.parse(req.path.slice(qi + 1), { allowPrototypes: true }) as Record<string, unknown>));
  let out = req;
  if (actionable({}, query()) || actionable(undefined, query())) {
    out = { ...out, path: qi === -1 ? out.path : out.path.slice(0, qi), defused: true };
  }
  const json = jsonOf(out.body);
  if (json !== undefined && actionable(json, qi === -1 || out.defused ? {} : query())) out = rebody(out, '{');
  return out;
}

// ------------------------------------------------------------------------------------------------ helpers

function jsonOf(body: Buffer | undefined): unknown {
  if (!body) return undefined;
  const text = body.toString('utf8');
  // chunked framing: the JSON is the first chunk
  const m = /^[0-9a-fz]+\r\n([\s\S]*)\r\n0\r\n\r\n$/.exec(text);
  try {
    return JSON.parse(m ? m[1] : text);
  } catch {
    try {
      return JSON.parse(body.toString('utf16le'));
    } catch {
      return undefined;
    }
  }
}

/** The request with a new JSON body (plain Content-Length framing), marked defused. */
function rebody(req: FuzzRequest, text: string): FuzzRequest {
  const body = Buffer.from(text, 'utf8');
  const headers = req.headers.filter(([k]) => !/^(content-length|transfer-encoding|content-type|content-encoding)$/i.test(k));
  headers.push(['Content-Type', 'application/json'], ['Content-Length', String(body.length)]);
  return { ...req, headers, body, defused: true };
}
