// Drill harness: steady write + read load through the edge (forum API), fault injection with the docker CLI,
// RTO / failed requests / lost acknowledged writes / return to full strength.
import { execFileSync, spawnSync } from 'node:child_process';

// HTTPS: Node trusts the stack's local CA through NODE_EXTRA_CA_CERTS (scripts/test.sh, test-cluster.sh export it)
export const EDGE_URL = (process.env.EDGE_URL ?? `https://127.0.0.1:${process.env.EDGE_HTTPS_PORT ?? '443'}`).replace(/\/$/, '');
export const STACK = process.env.STACK ?? 'forum';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why a request to the edge failed, for a preflight's message: an untrusted certificate names the CA to give. */
export function edgeFailure(r: Response | Error): string {
  if (!(r instanceof Error)) return `HTTP ${r.status}`;
  const cause = (r as Error & { cause?: { code?: string; message?: string } }).cause;
  const why = [cause?.code, cause?.message ?? r.message].filter(Boolean).join(': ');
  return /CERT|UNABLE_TO|SELF_SIGNED/.test(why)
    ? `${why}; Node must trust the stack's CA: NODE_EXTRA_CA_CERTS=<checkout>/secrets/tls_ca.pem (npm test and npm run test:drills set it)`
    : why;
}

export function docker(args: string[], timeoutMs = 20_000): string {
  return execFileSync('docker', args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/**
 * A cookie-session client speaking the Misago dialect (csrftoken cookie + X-CSRFToken header), to `base` (the edge,
 * or one node's own NGINX on the cluster), waiting at least `minTimeoutMs` for any answer (a probe of a partition's
 * minority side must not give up before the API answers; the SLA allows 50 s for a POST).
 */
export class Client {
  cookies = new Map<string, string>();
  constructor(
    readonly base = EDGE_URL,
    private readonly minTimeoutMs = 0,
  ) {}
  async req(method: string, path: string, body?: unknown, requestedTimeoutMs = 5000): Promise<{ status: number; json: any }> {
    const timeoutMs = Math.max(requestedTimeoutMs, this.minTimeoutMs);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) headers['content-type'] = 'application/json';
    const csrf = this.cookies.get('csrftoken');
    if (csrf && method !== 'GET') headers['x-csrftoken'] = csrf;
    const t0 = Date.now();
    const send = () =>
      fetch(`${this.base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    const causeOf = (err: Error) => (err as Error & { cause?: { code?: string; message?: string } }).cause;
    const res = await send()
      .catch((err: Error) => {
        // Like a browser: a request that fails at once because the server closed the idle keep-alive connection it
        // went out on is sent again on a new connection. NGINX closes its idle client connections when it reloads
        // (nginx-agent reloads it when an api task comes or goes), and undici, unlike browsers, does not resend
        // (nodejs/undici#3492): one CI run counted 3 such "other side closed" POSTs as failed writes.
        const code = causeOf(err)?.code ?? '';
        if (Date.now() - t0 < 1000 && /^(UND_ERR_SOCKET|ECONNRESET|EPIPE)$/.test(code)) return send();
        throw err;
      })
      .catch((err: Error) => {
        // a DOMException prints as {} in the test report: name the request; undici's "fetch failed" says why in cause
        const cause = causeOf(err);
        const why = cause ? ` (${[cause.code, cause.message].filter(Boolean).join(': ')})` : '';
        throw new Error(`${method} ${path}: ${err.name}: ${err.message}${why} after ${Date.now() - t0} ms`);
      });
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const i = kv.indexOf('=');
      this.cookies.set(kv.slice(0, i).trim(), kv.slice(i + 1).trim());
    }
    const text = await res.text();
    let json: any = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = { raw: text.slice(0, 200) };
    }
    return { status: res.status, json };
  }
}

export async function newUser(tag: string): Promise<{ client: Client; threadId: number }> {
  const c = new Client();
  // setup, not the measurement: a sign-up hashes with argon2 (2 at a time per api task) and six arrive together on a
  // host that may still be busy with the last drill's recovery, so these get the SLA's patience, not 5 s
  const SETUP_MS = 30_000;
  await c.req('GET', '/api/auth/', undefined, SETUP_MS);
  const name = `dr${tag}${Math.random().toString(36).slice(2, 8)}`.slice(0, 14);
  const password = `Drill-${Math.random().toString(36).slice(2)}-pw`;
  const reg = await c.req('POST', '/api/users/', { username: name, email: `${name}@example.test`, password }, SETUP_MS);
  if (reg.status >= 300) throw new Error(`register ${name}: ${reg.status} ${JSON.stringify(reg.json)}`);
  // registering signs in (a second login would be Misago's 403 for signed-in users); log in again from a new jar
  c.cookies.clear();
  await c.req('GET', '/api/auth/', undefined, SETUP_MS);
  const login = await c.req('POST', '/api/auth/', { username: name, password }, SETUP_MS);
  if (login.status >= 300) throw new Error(`login ${name}: ${login.status} ${JSON.stringify(login.json)}`);
  const t = await c.req('POST', '/api/threads/', { title: `Drill thread ${name}`, post: `Drill start ${name}`, category: 3 }, SETUP_MS);
  if (t.status >= 300 || !t.json?.id) throw new Error(`thread: ${t.status} ${JSON.stringify(t.json)}`);
  return { client: c, threadId: Number(t.json.id) };
}

interface Event {
  /** start and end of the request */
  at: number;
  end: number;
  ok: boolean;
  /** flood (403 `code: flood`, Misago's status): the API refused a post because this user's previous one (which the client gave up on) went through */
  flood?: boolean;
  /** why it failed: HTTP status + error code, or the client error */
  why?: string;
}

/** Writers post into their own thread (flood limit: 1 post / 3 s / user); readers read threads. */
/**
 * The reason a request threw, as the report groups it ("TypeError: fetch failed (UND_ERR_SOCKET: ...)", without the
 * method, path and duration). Every failure but a timeout is also printed with its start time, for the CI log.
 */
function failureReason(kind: 'write' | 'read', err: Error, at: number): string {
  if (!/TimeoutError/.test(err.message)) process.stdout.write(`# failed ${kind} ${err.message} at ${new Date(at).toISOString()}\n`);
  return err.message.replace(/^[A-Z]+ \S+: /, '').replace(/ after \d+ ms$/, '');
}

/**
 * A drill's write fails when it errs or has no answer within 45 s: the SLA gives a POST 50 s (spec/SPEC.md, section
 * 5), and the partition drill's minority client already waited that long. A write held by the api through a
 * failover or a planned switchover (it is sent again while it did nothing, forum-api's NOTHING_DONE_RETRY_MS, 30 s)
 * and then written is slow, not failed; the RTO counts it when it completes. Reads time out at 15 s, stricter than
 * the SLA's 40 s: a reader must never notice a failover (docs/DATA-TIER.md).
 */
const WRITE_TIMEOUT_MS = 45_000;

export class Load {
  writes: Event[] = [];
  reads: Event[] = [];
  acked: { threadId: number; postId: number }[] = [];
  private stop = false;
  private loops: Promise<void>[] = [];
  constructor(private users: { client: Client; threadId: number }[]) {}

  start(): void {
    for (const u of this.users) {
      this.loops.push(this.writer(u));
      this.loops.push(this.reader(u));
    }
  }
  private async writer(u: { client: Client; threadId: number }) {
    let n = 0;
    while (!this.stop) {
      const at = Date.now();
      let ok = false;
      let flood = false;
      let why: string | undefined;
      try {
        const r = await u.client.req('POST', `/api/threads/${u.threadId}/posts/`, { post: `drill post ${++n} at ${at}` }, WRITE_TIMEOUT_MS);
        ok = r.status >= 200 && r.status < 300 && r.json?.id !== undefined;
        flood = r.status === 403 && r.json?.code === 'flood';
        if (ok) this.acked.push({ threadId: u.threadId, postId: Number(r.json.id) });
        else why = `${r.status} ${r.json?.code ?? ''}`.trim();
      } catch (err) {
        ok = false;
        why = failureReason('write', err as Error, at);
      }
      this.writes.push({ at, end: Date.now(), ok, flood, why });
      // the flood limit (1 post / 3 s / user) only counts posts that were made: a failed write is retried soon,
      // so the RTO is measured to ~0.3 s rather than to the 3 s posting interval; after a success or a flood refusal the
      // user waits the flood interval
      await sleep(Math.max(0, (ok || flood ? 3100 : 300) - (Date.now() - at)));
    }
  }
  private async reader(u: { client: Client; threadId: number }) {
    while (!this.stop) {
      const at = Date.now();
      try {
        const r = await u.client.req('GET', `/api/threads/${u.threadId}/posts/`, undefined, 15_000);
        this.reads.push({ at, end: Date.now(), ok: r.status === 200, why: r.status === 200 ? undefined : `${r.status} ${r.json?.code ?? ''}`.trim() });
      } catch (err) {
        this.reads.push({ at, end: Date.now(), ok: false, why: failureReason('read', err as Error, at) });
      }
      await sleep(Math.max(0, 250 - (Date.now() - at)));
    }
  }
  async halt(): Promise<void> {
    this.stop = true;
    await Promise.all(this.loops);
  }
  /**
   * RTO: from the fault until a write that STARTED after the last failed one has SUCCEEDED (its completion time).
   * Writes time out at WRITE_TIMEOUT_MS, reads at 15 s, so a write that hangs through the failover and then
   * succeeds is not an error, but it does not shorten the RTO either: it counts when it completes. With no failure
   * the RTO is the completion of the first write started after the fault (a few hundred ms when nothing broke).
   * A flood refusal is neither: it means the user's previous post (the client gave up on it) went through.
   */
  rto(faultAt: number): number {
    const after = this.writes.filter((e) => e.at >= faultAt && !e.flood).sort((a, b) => a.at - b.at);
    const lastFail = after.filter((e) => !e.ok).pop();
    const from = lastFail ? lastFail.at : faultAt - 1;
    const next = after.find((e) => e.ok && e.at > from);
    return next ? next.end - faultAt : Number.POSITIVE_INFINITY;
  }
  /** failure reasons after the fault, most frequent first: "503 service_unavailable x4" */
  reasons(faultAt: number, kind: 'writes' | 'reads'): string[] {
    const n = new Map<string, number>();
    for (const e of this.failures(faultAt, kind)) n.set(e.why ?? '?', (n.get(e.why ?? '?') ?? 0) + 1);
    return [...n].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} x${v}`);
  }
  /** requests started after the fault that failed (a flood refusal is not a failure) */
  failures(faultAt: number, kind: 'writes' | 'reads'): Event[] {
    return this[kind].filter((e) => e.at >= faultAt && !e.ok && !e.flood);
  }
  failed(faultAt: number) {
    return {
      writes: this.failures(faultAt, 'writes').length,
      floodRefusals: this.writes.filter((e) => e.at >= faultAt && e.flood).length,
      reads: this.failures(faultAt, 'reads').length,
      totalReads: this.reads.filter((e) => e.at >= faultAt).length,
    };
  }
}

/**
 * every acknowledged post id must be readable afterwards. Reads may go to a standby that is still catching up (a
 * member that just rejoined), so a thread that misses ids is read again until `deadlineMs`: a post that a lagging
 * standby lacks shows up; a lost one never does.
 */
export async function lostWrites(load: Load, reader: Client, deadlineMs = 30_000): Promise<number> {
  const byThread = new Map<number, Set<number>>();
  for (const a of load.acked) {
    if (!byThread.has(a.threadId)) byThread.set(a.threadId, new Set());
    byThread.get(a.threadId)!.add(a.postId);
  }
  const until = Date.now() + deadlineMs;
  // the check reads after the drill, outside the measured load: a read that fails here (a request caught by the
  // failover's tail) is reported and made again until the deadline, then it fails the drill
  const read = async (path: string) => {
    for (;;) {
      try {
        const r = await reader.req('GET', path, undefined, 10_000);
        if (r.status === 200) return r;
        throw new Error(`status ${r.status}`);
      } catch (err) {
        if (Date.now() >= until) throw new Error(`reading ${path} for lost writes: ${(err as Error).message}`);
        process.stdout.write(`# lost-writes check: GET ${path} failed (${(err as Error).message}); reading it again\n`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };
  const missing = async (tid: number, want: Set<number>): Promise<number> => {
    const seen = new Set<number>();
    for (let page = 1; page < 200; page++) {
      const r = await read(`/api/threads/${tid}/posts/?page=${page}`);
      for (const p of r.json?.post_set?.results ?? []) seen.add(Number(p.id));
      if (!r.json?.post_set?.next) break;
    }
    return [...want].filter((id) => !seen.has(id)).length;
  };
  let lost = 0;
  for (const [tid, want] of byThread) {
    let n = await missing(tid, want);
    while (n > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 1000));
      n = await missing(tid, want);
    }
    lost += n;
  }
  return lost;
}

// ---------------------------------------------------------------- cluster state via the docker CLI
export function containerOf(service: string): string {
  const ids = docker(['ps', '-q', '--filter', `name=${STACK}_${service}.`, '--filter', 'status=running'])
    .split('\n')
    .filter(Boolean);
  if (!ids.length) throw new Error(`no running container for ${STACK}_${service}`);
  return ids[0];
}
export function pgRoles(): Record<string, string> {
  for (const n of ['pg-0', 'pg-1', 'pg-2']) {
    try {
      const out = docker(['exec', containerOf(n), 'fence.sh']);
      return Object.fromEntries(out.split('\n').map((l) => l.trim().split(/\s+/)));
    } catch {
      /* try the next node */
    }
  }
  return {};
}
export function pgPrimary(): string {
  const roles = pgRoles();
  const p = Object.entries(roles).filter(([, r]) => r === 'primary');
  if (p.length !== 1) throw new Error(`expected one primary, got ${JSON.stringify(roles)}`);
  return p[0][0];
}
/** every running container of a service */
export function containersOf(service: string): string[] {
  return docker(['ps', '-q', '--filter', `name=${STACK}_${service}.`, '--filter', 'status=running'])
    .split('\n')
    .filter(Boolean);
}
/** the secret that opens a Redis node (the default user's, held by the Redis tasks only) or a Sentinel */
export const redisSecretFor = (port: number): string => (port === 26379 ? 'redis_sentinel_password' : 'redis_password');
/** redis-cli in container `c` against its own server: port 6379 (Redis, as the operator's default user) or 26379
 * (Sentinel, whose password is redis_sentinel_password) */
export function redisCli(c: string, port: number, ...args: string[]): string {
  // the password on stdin from the container's own secret (--askpass), never in an argument or an environment
  const cmd = `exec redis-cli --askpass --no-auth-warning -p ${port} "$@" </run/secrets/${redisSecretFor(port)}`;
  return docker(['exec', c, 'sh', '-c', cmd, 'sh', ...args]);
}
/** `SENTINEL <args>` on a running sentinel task */
function sentinel(...args: string[]): string {
  return redisCli(containerOf('sentinel'), 26379, 'sentinel', ...args);
}
export function redisMasterContainer(): string {
  const ip = sentinel('get-master-addr-by-name', 'mymaster').split('\n')[0];
  for (const n of ['redis-0', 'redis-1', 'redis-2']) {
    try {
      const c = containerOf(n);
      if (docker(['exec', c, 'hostname', '-I']).split(/\s+/).includes(ip)) return c;
    } catch {
      /* not running */
    }
  }
  throw new Error(`no container has the master IP ${ip}`);
}

/** 3 PG nodes (1 primary + 2 streaming), Redis master with 2 replicas, every service at its desired replicas. */
export function fullStrength(): { ok: boolean; detail: string } {
  const problems: string[] = [];
  try {
    const roles = pgRoles();
    const prim = Object.entries(roles)
      .filter(([, r]) => r === 'primary')
      .map(([n]) => n);
    if (prim.length !== 1 || Object.values(roles).filter((r) => r === 'standby').length !== 2) problems.push(`pg roles ${JSON.stringify(roles)}`);
    else {
      const n = docker(['exec', containerOf(prim[0]), 'psql', '-XAtc', "select count(*) from pg_stat_replication where state = 'streaming'"]);
      if (n !== '2') problems.push(`pg streaming standbys ${n}`);
    }
  } catch (err) {
    problems.push(`pg: ${(err as Error).message}`);
  }
  try {
    const info = sentinel('master', 'mymaster').split('\n');
    const get = (k: string) => info[info.indexOf(k) + 1];
    const up = Number(get('num-slaves'));
    if (get('flags') !== 'master' || up < 2) problems.push(`redis flags=${get('flags')} replicas=${up}`);
  } catch (err) {
    problems.push(`redis: ${(err as Error).message}`);
  }
  // every redis-proxy task must route to a master (a task with stale addresses once routed nowhere): the image's
  // own healthcheck says so (redis-master backend UP, every server address current)
  const proxies = docker(['ps', '-q', '--filter', `name=${STACK}_redis-proxy.`, '--filter', 'status=running'])
    .split('\n')
    .filter(Boolean);
  for (const id of proxies) {
    try {
      docker(['exec', id, '/usr/local/bin/healthcheck.sh', '--strict']);
    } catch (err) {
      const e = err as { stdout?: string; message: string };
      problems.push(`redis-proxy ${id.slice(0, 12)}: ${e.stdout?.toString().trim() || e.message}`);
    }
  }
  // every pgpool task must see the three backends attached with one primary: a node that PostgreSQL already counts
  // as a streaming standby may still be detached in pgpool, whose auto_failback then re-attaches it later and drops
  // its sessions in the middle of the next drill (seen in CI: a standby drill failed a write 17.9 s after its fault)
  const pools = docker(['ps', '-q', '--filter', `name=${STACK}_pgpool.`, '--filter', 'status=running'])
    .split('\n')
    .filter(Boolean);
  for (const id of pools) {
    try {
      const nodes = docker(['exec', id, 'pcp_node_info', '-h', 'localhost', '-p', '9898', '-U', 'admin', '-w', '-a'])
        .split('\n')
        .map((l) => l.trim().split(/\s+/));
      const down = nodes.filter((f) => f[4] === 'down').map((f) => f[0]);
      const primaries = nodes.filter((f) => f[6] === 'primary').length;
      if (nodes.length !== 3 || down.length || primaries !== 1) problems.push(`pgpool ${id.slice(0, 12)}: down [${down.join(',')}], ${primaries} primary`);
    } catch (err) {
      problems.push(`pgpool ${id.slice(0, 12)}: ${(err as Error).message}`);
    }
  }
  const svc = docker(['service', 'ls', '--filter', `label=com.docker.stack.namespace=${STACK}`, '--format', '{{.Name}} {{.Replicas}}']);
  for (const line of svc.split('\n')) {
    const m = /^(\S+) (\d+)\/(\d+)/.exec(line);
    if (m && m[2] !== m[3]) problems.push(`${m[1]} ${m[2]}/${m[3]}`);
  }
  return { ok: problems.length === 0, detail: problems.join('; ') };
}

/**
 * The application's own view through the edge: `/healthcheck/ready/` (each api task pings PostgreSQL through Pgpool
 * and Redis through redis-proxy on the connections its requests use) answers 200 `times` in a row, so that NGINX has
 * passed the check to every api task. The tiers can be whole again (fullStrength) while an api's Redis connection,
 * dropped while there was no master, is still waiting out its reconnect back-off: a sign-up then gets a 503.
 */
export async function appReady(times = 6): Promise<{ ok: boolean; detail: string }> {
  const c = new Client();
  for (let i = 0; i < times; i++) {
    const r = await c.req('GET', '/healthcheck/ready/', undefined, 5000).catch((err: Error) => ({ status: 0, json: err.message }));
    if (r.status !== 200) return { ok: false, detail: `api readiness ${r.status}: ${JSON.stringify(r.json)}` };
  }
  return { ok: true, detail: '' };
}

export async function waitFullStrength(deadlineMs: number): Promise<{ ok: boolean; ms: number; detail: string }> {
  const t0 = Date.now();
  let last = { ok: false, detail: '' };
  while (Date.now() - t0 < deadlineMs) {
    last = fullStrength();
    if (last.ok) last = await appReady();
    if (last.ok) return { ok: true, ms: Date.now() - t0, detail: '' };
    await sleep(2000);
  }
  return { ok: false, ms: Date.now() - t0, detail: last.detail };
}

export interface DrillReport {
  drill: string;
  rtoMs: number;
  failedWrites: number;
  floodRefusals: number;
  failedReads: number;
  readErrorPct: number;
  acked: number;
  lost: number;
  fullStrength: boolean;
  fullStrengthMs: number;
  detail?: string;
  writeErrors?: string[];
  readErrors?: string[];
  /** When each failed write started, in seconds after the fault. */
  writeFailuresAtS?: number[];
  /** The fault's time (ISO): where a failed drill's timeline starts. */
  faultAt?: string;
}

const TIMELINE =
  /promot|follow|elect|winner|candidate|notification|primary node|find_primary|degenerat|failover|failback|verify_backend|keeper|fence|\+switch-master|\+sdown|\+odown|\+failover|FATAL|PANIC/i;

/**
 * What the data tier said after a fault (repmgrd, the fence, Pgpool's main process, Sentinel): printed when a drill
 * misses its budget, so a CI log shows where the time went (the CI machine's logs are gone after the run).
 */
export function printTimeline(sinceIso: string, services = ['pg-0', 'pg-1', 'pg-2', 'pgpool', 'sentinel'], perService = 60): void {
  for (const svc of services) {
    // the services log to stderr, which `docker service logs` passes on as its own stderr
    const r = spawnSync('docker', ['service', 'logs', '--raw', '--timestamps', '--since', sinceIso, `${STACK}_${svc}`], {
      encoding: 'utf8',
      timeout: 15_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
    const lines = out
      .split('\n')
      .filter((l) => TIMELINE.test(l) && !/could not translate host name|unable to ping|pcp|health check/i.test(l))
      // Pgpool: its main process (failover, primary search, failback) and the image's keeper, not every child's FATAL
      .filter((l) => svc !== 'pgpool' || (/main pid|pgpool-entrypoint|keeper|no primary|re-attaching/.test(l) && !/find_primary_node: standby node/.test(l)))
      .sort()
      .slice(0, perService);
    process.stdout.write(`# TIMELINE ${svc} (${lines.length} lines)\n`);
    for (const l of lines) process.stdout.write(`#   ${l.slice(0, 220)}\n`);
  }
}

/** Runs one drill: USERS writers/readers, BEFORE_MS steady load, the fault, AFTER_MS load, then the checks. */
/** `fault` may be asynchronous (a planned switchover): the load keeps running while it is awaited */
export async function runDrill(name: string, fault: () => unknown): Promise<DrillReport> {
  // the drill starts from a whole stack: a test before it may have ended on the tiers' view alone
  const before = await waitFullStrength(Number(process.env.DRILL_RECOVERY_MS ?? 180_000));
  if (!before.ok) throw new Error(`${name}: the stack is not whole before the fault: ${before.detail}`);
  const users = await Promise.all(Array.from({ length: Number(process.env.DRILL_USERS ?? 6) }, (_, i) => newUser(String(i))));
  const load = new Load(users);
  load.start();
  await sleep(Number(process.env.DRILL_BEFORE_MS ?? 8000));
  const faultAt = Date.now();
  await fault();
  await sleep(Number(process.env.DRILL_AFTER_MS ?? 40_000));
  await load.halt();
  const f = load.failed(faultAt);
  const lost = await lostWrites(load, users[0].client);
  const fs = await waitFullStrength(Number(process.env.DRILL_RECOVERY_MS ?? 180_000));
  const report: DrillReport = {
    drill: name,
    rtoMs: load.rto(faultAt),
    failedWrites: f.writes,
    floodRefusals: f.floodRefusals,
    failedReads: f.reads,
    readErrorPct: f.totalReads ? Math.round((10000 * f.reads) / f.totalReads) / 100 : 0,
    acked: load.acked.length,
    lost,
    fullStrength: fs.ok,
    fullStrengthMs: fs.ms,
    detail: fs.detail || undefined,
    writeErrors: load.reasons(faultAt, 'writes'),
    readErrors: load.reasons(faultAt, 'reads'),
    writeFailuresAtS: load.failures(faultAt, 'writes').map((e) => Math.round((e.at - faultAt) / 100) / 10),
    faultAt: new Date(faultAt).toISOString(),
  };
  process.stdout.write(`# DRILL ${JSON.stringify(report)}\n`);
  return report;
}
