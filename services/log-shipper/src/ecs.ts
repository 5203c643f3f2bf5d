import { createHash } from 'node:crypto';

/** Where a line came from (Docker API metadata). */
export interface Source {
  containerId: string;
  containerName: string;
  service: string; // swarm service short name
  node: string;
}

export type EcsDoc = Record<string, unknown>;

/** A small user-agent parse in the shape of the Elasticsearch user_agent processor (name, version, os.name). */
export function parseUserAgent(ua: string | undefined): Record<string, unknown> | undefined {
  if (!ua || ua === '-') return undefined;
  const out: Record<string, unknown> = { original: ua };
  const browsers: Array<[string, RegExp]> = [
    ['Edge', /Edg(?:e|A|iOS)?\/([\d.]+)/],
    ['Opera', /OPR\/([\d.]+)/],
    ['Chrome', /Chrome\/([\d.]+)/],
    ['Firefox', /Firefox\/([\d.]+)/],
    ['Safari', /Version\/([\d.]+).*Safari/],
    ['curl', /^curl\/([\d.]+)/],
    ['Wget', /^Wget\/([\d.]+)/],
    ['Go-http-client', /Go-http-client\/([\d.]+)/],
    ['Python Requests', /python-requests\/([\d.]+)/],
    ['k6', /k6\/([\d.]+)/],
    ['Node.js', /node(?:-fetch|js)?\/?([\d.]+)?/i],
  ];
  for (const [name, re] of browsers) {
    const m = re.exec(ua);
    if (m) {
      out.name = name;
      if (m[1]) out.version = m[1];
      break;
    }
  }
  if (!out.name) out.name = 'Other';
  const os: Array<[string, RegExp]> = [
    ['Windows', /Windows NT/],
    ['iOS', /iPhone|iPad/],
    ['Mac OS X', /Mac OS X/],
    ['Android', /Android/],
    ['Linux', /Linux/],
  ];
  for (const [name, re] of os) if (re.test(ua)) return { ...out, os: { name } };
  return out;
}

function splitUrl(original: string): { path: string; query?: string } {
  const i = original.indexOf('?');
  return i < 0 ? { path: original } : { path: original.slice(0, i), query: original.slice(i + 1) };
}

const dash = (v: unknown): string | undefined => (v === undefined || v === null || v === '' || v === '-' ? undefined : String(v));

/** A stable document id so re-shipping a line after a restart is a no-op (`create` answers 409). */
export function docId(src: Source, ts: string, line: string): string {
  return createHash('sha1').update(`${src.containerId}\n${ts}\n${line}`).digest('base64url');
}

function common(src: Source): EcsDoc {
  return {
    host: { name: src.node },
    container: { id: src.containerId, name: src.containerName },
    agent: { type: 'log-shipper', name: 'forum-log-shipper' },
    ecs: { version: '1.12.0' },
  };
}

/**
 * The NGINX JSON access log (configs/nginx/nginx.conf `log_format json`) -> ECS exactly as Filebeat's nginx
 * module names it, plus event.duration (ns) and nginx.access.request_time (s). Returns undefined for other lines
 * (NGINX error log lines go through nginxErrorToEcs).
 */
export function nginxAccessToEcs(line: string, src: Source, fallbackTs: string): EcsDoc | undefined {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof j !== 'object' || j === null || j.request_method === undefined || j.status === undefined) return undefined;
  const status = Number(j.status);
  const original = String(j.request_uri ?? '');
  const { path, query } = splitUrl(original);
  const requestTime = Number(j.request_time);
  const ip = dash(j.remote_addr);
  const upstream = dash(j.upstream_response_time);
  const doc: EcsDoc = {
    '@timestamp': dash(j.time) ? new Date(String(j.time)).toISOString() : fallbackTs,
    ...common(src),
    source: ip ? { ip, address: ip } : undefined,
    // forum_user: the api's X-Forum-User (the logged-in user); remote_user: HTTP basic auth, unused by the forum
    user: dash(j.forum_user) ? { name: j.forum_user } : dash(j.remote_user) ? { name: j.remote_user } : undefined,
    http: {
      request: {
        method: String(j.request_method).toUpperCase(),
        referrer: dash(j.http_referer),
        id: dash(j.request_id),
        bytes: Number.isFinite(Number(j.request_length)) ? Number(j.request_length) : undefined,
      },
      response: { status_code: status, body: { bytes: Number(j.body_bytes_sent ?? 0) } },
      version: dash(j.server_protocol)?.replace(/^HTTP\//, ''),
    },
    url: { original, path, ...(query !== undefined ? { query } : {}), domain: dash(j.host) },
    user_agent: parseUserAgent(dash(j.http_user_agent)),
    event: accessEvent(status, 'nginx.access', 'nginx', Number.isFinite(requestTime) ? Math.round(requestTime * 1e9) : undefined),
    fileset: { name: 'access' },
    service: { type: 'nginx', name: src.service },
    nginx: {
      access: {
        request_time: Number.isFinite(requestTime) ? requestTime : undefined,
        upstream_response_time: upstream && Number.isFinite(Number(upstream)) ? Number(upstream) : undefined,
        upstream_addr: dash(j.upstream_addr),
        upstream_status: dash(j.upstream_status),
        ip_blocked: j.ip_blocked === '1' || j.ip_blocked === 1,
        remote_ip_list: dash(j.http_x_forwarded_for)?.split(/\s*,\s*/),
      },
    },
    message: line,
  };
  return prune(doc);
}

/** NGINX error log line (`2024/01/01 12:00:00 [error] 1#1: ...`) as Filebeat's nginx.error. */
export function nginxErrorToEcs(line: string, src: Source, fallbackTs: string): EcsDoc | undefined {
  const m = /^(\d{4})\/(\d\d)\/(\d\d) (\d\d:\d\d:\d\d) \[(\w+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)$/.exec(line);
  if (!m) return undefined;
  return prune({
    '@timestamp': new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}Z`).toISOString() || fallbackTs,
    ...common(src),
    log: { level: m[5] },
    process: { pid: Number(m[6]), thread: { id: Number(m[7]) } },
    nginx: { error: { connection_id: m[8] ? Number(m[8]) : undefined } },
    event: { kind: 'event', category: ['web'], type: ['error'], dataset: 'nginx.error', module: 'nginx' },
    fileset: { name: 'error' },
    service: { type: 'nginx', name: src.service },
    message: m[9],
  });
}

const PINO_LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/**
 * A pino JSON line of the API (packages/shared accessLog / logger). Access lines (`type: "access"`) map to the
 * same ECS http/url/source fields as NGINX (dataset forum.api.access); everything else is forum.api.app.
 */
export function apiToEcs(line: string, src: Source, fallbackTs: string): EcsDoc | undefined {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(line);
  } catch {
    return prune({
      '@timestamp': fallbackTs,
      ...common(src),
      message: line,
      event: { kind: 'event', dataset: 'forum.api.app', module: 'forum' },
      service: { type: 'node', name: src.service },
    });
  }
  if (typeof j !== 'object' || j === null) return undefined;
  const level = typeof j.level === 'number' ? PINO_LEVELS[j.level] : typeof j.level === 'string' ? j.level : undefined;
  const ts = typeof j.time === 'number' ? new Date(j.time).toISOString() : typeof j.time === 'string' ? new Date(j.time).toISOString() : fallbackTs;
  const base = { '@timestamp': ts, ...common(src), log: { level, logger: j.service }, service: { type: 'node', name: src.service } };
  if (j.type === 'access') {
    const status = Number(j.status);
    const original = String(j.url ?? '');
    const { path, query } = splitUrl(original);
    const ms = Number(j.responseTimeMs);
    const ip = dash(j.ip);
    return prune({
      ...base,
      source: ip ? { ip, address: ip } : undefined,
      user: dash(j.user) ? { name: j.user } : undefined,
      http: {
        request: { method: String(j.method ?? '').toUpperCase(), id: dash(j.requestId) },
        response: { status_code: status, body: { bytes: Number(j.bytes ?? 0) } },
      },
      url: { original, path, ...(query !== undefined ? { query } : {}) },
      user_agent: parseUserAgent(dash(j.userAgent)),
      event: accessEvent(status, 'forum.api.access', 'forum', Number.isFinite(ms) ? Math.round(ms * 1e6) : undefined),
      forum: { response_time_ms: Number.isFinite(ms) ? ms : undefined },
      message: String(j.msg ?? 'request'),
    });
  }
  const { level: _l, time: _t, msg, pid: _p, hostname: _h, service: _s, host: _ho, ...rest } = j;
  const ip = dash(rest.ip);
  return prune({
    ...base,
    message: msg !== undefined ? String(msg) : line,
    source: ip ? { ip, address: ip } : undefined,
    event: { kind: 'event', dataset: 'forum.api.app', module: 'forum', action: dash(rest.event) },
    forum: { app: Object.keys(rest).length ? JSON.parse(JSON.stringify(rest)) : undefined },
  });
}

/** ECS's event of one HTTP access line, NGINX's or the API's (`durationNs` undefined when the line has none). */
function accessEvent(status: number, dataset: string, module: string, durationNs: number | undefined) {
  return { kind: 'event', category: ['web'], type: ['access'], outcome: status >= 400 ? 'failure' : 'success', dataset, module, duration: durationNs };
}

/** Removes undefined values and empty objects (Elasticsearch would store explicit nulls). */
export function prune<T>(v: T): T {
  if (Array.isArray(v)) return v.map(prune) as T;
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x === undefined) continue;
      const p = prune(x);
      if (p && typeof p === 'object' && !Array.isArray(p) && Object.keys(p).length === 0) continue;
      out[k] = p;
    }
    return out as T;
  }
  return v;
}

/** The daily index: filebeat-forum-YYYY.MM.DD (index pattern filebeat-*). */
export function indexFor(prefix: string, ts: string): string {
  const d = new Date(ts);
  const day = Number.isNaN(d.getTime()) ? new Date() : d;
  return `${prefix}-${day.toISOString().slice(0, 10).replace(/-/g, '.')}`;
}
