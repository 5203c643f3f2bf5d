import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DockerProbe } from './docker.js';
import { Client, errorKind, Session, type HttpResult } from './http.js';
import { AUTH_SHARE, isAuthUser, NEEDS_LOGIN, pickAction, prng, WRITES, type Action } from './scenario.js';
import { login, seed, type SeedResult } from './seed.js';
import { evaluateSla } from './sla.js';
import { Recorder } from './stats.js';
import type { FaultResult, FaultSpec, ReplicaPoint, Summary } from './types.js';
import { TimerWheel } from './wheel.js';

export interface RunOptions {
  target: string;
  users: number;
  rampRate: number; // new users per second
  thinkTimeS: number; // one operation per user every this many seconds
  durationS: number; // measured run, from the first user's start
  seedThreads: number;
  accounts?: number; // default: the number of logged-in users, at most maxAccounts
  maxAccounts: number;
  userPrefix: string;
  password: string;
  category?: number;
  authShare: number;
  connections: number;
  timeoutS: number;
  progressS: number;
  intervalS: number;
  stack: string;
  docker: boolean;
  replicasEveryS: number;
  faults: FaultSpec[];
  randomSeed: number;
  /** Minimum gap between two posts of one account (the API's flood protection allows one per 3 s). */
  postIntervalMs: number;
  /** Where progress lines go (stderr by default). */
  progress?: (line: string) => void;
  /** Aborted (Ctrl-C): the run stops as if its duration had ended and the summary covers what ran. */
  signal?: AbortSignal;
}

/** Thrown when the run is stopped before any load ran (during seeding): there is nothing to report. */
export class InterruptedBeforeLoad extends Error {}

export const DEFAULTS: Omit<RunOptions, 'faults'> = {
  target: 'http://127.0.0.1:80',
  users: 1500,
  rampRate: 10,
  thinkTimeS: 30,
  durationS: 900,
  seedThreads: 100,
  maxAccounts: 1000,
  userPrefix: 'ltuser',
  password: 'LoadTest-Password-1!',
  authShare: AUTH_SHARE,
  connections: 128,
  timeoutS: 60,
  progressS: 5,
  intervalS: 5,
  stack: 'forum',
  docker: true,
  replicasEveryS: 5,
  randomSeed: 42,
  postIntervalMs: 3_500,
};

const TICK_MS = 50;

class ThreadPool {
  private readonly ids: Int32Array;
  private n = 0;
  private pos = 0;
  constructor(capacity: number) {
    this.ids = new Int32Array(capacity);
  }
  add(id: number): void {
    this.ids[this.pos] = id;
    this.pos = (this.pos + 1) % this.ids.length;
    if (this.n < this.ids.length) this.n++;
  }
  pick(r: number): number {
    return this.ids[Math.floor(r * this.n)];
  }
  get size(): number {
    return this.n;
  }
}

/** Runs the whole load test: seed, ramp, steady load, faults, drain; returns the summary. */
export async function run(o: RunOptions): Promise<Summary> {
  const say = o.progress ?? ((l: string) => process.stderr.write(`${l}\n`));
  const client = new Client(o.target, o.connections, o.timeoutS * 1000);
  const authUsers = Array.from({ length: o.users }, (_, i) => i).filter((i) => isAuthUser(i, o.authShare)).length;
  const accounts = Math.max(1, o.accounts ?? Math.min(o.maxAccounts, Math.max(1, authUsers)));

  say(`seeding: ${accounts} accounts, ${o.seedThreads} threads at ${o.target} ...`);
  let seeded: SeedResult;
  try {
    // seeding cannot be cut short request by request; a stop abandons it (nothing has been measured yet)
    const stopped = new Promise<never>((_, reject) => {
      const fail = () => reject(new InterruptedBeforeLoad('stopped while seeding: no load ran, so there is no report'));
      if (o.signal?.aborted) fail();
      else o.signal?.addEventListener('abort', fail, { once: true });
    });
    stopped.catch(() => undefined);
    seeded = await Promise.race([
      seed(client, {
        accounts,
        threads: o.seedThreads,
        userPrefix: o.userPrefix,
        password: o.password,
        category: o.category,
        concurrency: 8,
      }),
      stopped,
    ]);
  } catch (err) {
    await client.close();
    throw err;
  }
  say(`seeded in ${seeded.seconds.toFixed(1)} s: ${seeded.notes.join('; ')}`);

  const rand = prng(o.randomSeed);
  const threads = new ThreadPool(20_000);
  for (const id of seeded.threadIds) threads.add(id);
  const rec = new Recorder();
  const wheel = new TimerWheel(TICK_MS, Math.max(64, Math.ceil((o.thinkTimeS * 1000) / TICK_MS) + 64));
  const sessions: Array<Session | null> = new Array(o.users).fill(null);
  const loggedIn: Session[] = [];
  const accountLastPost = new Float64Array(accounts);
  for (const [acc, t] of seeded.lastPostAt) if (acc < accounts) accountLastPost[acc] = t;
  let delegatePos = 0;
  let skipped = 0;
  let spawned = 0;
  let stopping = false;
  let seq = 0;
  const probe = o.docker ? new DockerProbe(o.stack) : null;
  const replicaPoints: ReplicaPoint[] = [];
  let replicaNote: string | undefined = o.docker ? undefined : 'disabled (--no-docker)';
  const faults: FaultResult[] = [];
  const pendingFaults = [...o.faults].sort((a, b) => a.atS - b.atS);
  const faultPromises: Array<Promise<void>> = [];
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();

  // A login-only action drawn for an anonymous reader is issued through a logged-in session, so
  // the aggregate traffic follows the 75/7/5/3/3/3/3/1 mix exactly while only 15 % of users hold a
  // session. Writes go to an account that has not posted in the last 3 s (the API's flood limit).
  const sessionFor = (user: number, action: Action, now: number): Session | null => {
    const own = sessions[user];
    const write = action === 'reply' || action === 'start thread';
    if (own && (!write || now - accountLastPost[own.account] >= o.postIntervalMs)) return own;
    const n = loggedIn.length;
    if (!n) return null;
    for (let k = 0; k < Math.min(n, 64); k++) {
      const s = loggedIn[(delegatePos + k) % n];
      if (!write || now - accountLastPost[s.account] >= o.postIntervalMs) {
        delegatePos = (delegatePos + k + 1) % n;
        return s;
      }
    }
    return null;
  };

  const perform = async (user: number, action: Action): Promise<void> => {
    const now = Date.now();
    let s: Session | null = sessions[user];
    if (NEEDS_LOGIN.has(action)) {
      s = sessionFor(user, action, now);
      if (!s) {
        skipped++;
        return;
      }
    }
    let r: HttpResult;
    const tid = threads.pick(rand());
    switch (action) {
      case 'read thread':
        r = await client.request('GET', `/api/threads/${tid}/posts/?page=1`, s);
        break;
      case 'reply':
        accountLastPost[s!.account] = now;
        r = await client.request('POST', `/api/threads/${tid}/posts/`, s, { post: `Load test reply ${++seq}: have you tried EXPLAIN ANALYZE on that query?` });
        accountLastPost[s!.account] = Date.now();
        break;
      case 'start thread': {
        accountLastPost[s!.account] = now;
        r = await client.request(
          'POST',
          '/api/threads/',
          s,
          { title: `Load test question ${++seq} ${now}`, post: 'How do I keep p95 latency low under load? Any tips welcome.', category: seeded.category },
          true,
        );
        accountLastPost[s!.account] = Date.now();
        const id = (r.body as { id?: unknown } | undefined)?.id;
        if (r.status < 300 && typeof id === 'number') threads.add(id);
        break;
      }
      case 'subscribe':
        r = await client.request('PATCH', `/api/threads/${tid}/`, s, [{ op: 'replace', path: 'subscription', value: 'notify' }]);
        break;
      case 'list subscribed':
        r = await client.request('GET', '/api/threads/?list=subscribed', s);
        break;
      case 'list unread':
        r = await client.request('GET', '/api/threads/?list=unread', s);
        break;
      case 'list new':
        r = await client.request('GET', '/api/threads/?list=new', s);
        break;
      case 'list mine':
        r = await client.request('GET', '/api/threads/?list=my', s);
        break;
    }
    const ok = r.status >= 200 && r.status < 300;
    rec.record(action, r.ms, ok, ok ? undefined : errorKind(r));
  };

  const operate = (user: number): void => {
    if (stopping) return;
    const started = performance.now();
    perform(user, pickAction(rand()))
      .catch(() => undefined)
      .finally(() => {
        if (!stopping) wheel.schedule(user, Math.max(0, o.thinkTimeS * 1000 - (performance.now() - started)));
      });
  };

  const spawn = (user: number): void => {
    if (!isAuthUser(user, o.authShare)) {
      operate(user);
      return;
    }
    const s = new Session(user % accounts);
    login(client, s, seeded.usernames[s.account], o.password)
      .then((r) => {
        const ok = r.status === 200;
        rec.record('login', r.ms, ok, ok ? undefined : errorKind(r));
        if (ok) {
          sessions[user] = s;
          loggedIn.push(s);
        }
      })
      .catch(() => undefined)
      .finally(() => operate(user));
  };

  const t0 = performance.now();
  const startedAt = new Date();
  const cpu0 = process.cpuUsage();
  let lastCpu = cpu0;
  let lastCpuWall = t0;
  let peakCpu = 0;
  let lastInterval = t0;
  let lastProgress = t0;
  let lastReplicas = -Infinity;
  let replicaBusy = false;
  const elapsedS = (): number => (performance.now() - t0) / 1000;

  const sampleReplicas = (): void => {
    if (!probe || replicaBusy) return;
    replicaBusy = true;
    probe
      .replicas(elapsedS())
      .then((p) => replicaPoints.push(p))
      .catch((err: Error) => {
        replicaNote = `Docker API: ${err.message}`;
      })
      .finally(() => {
        replicaBusy = false;
      });
  };

  const cpuPct = (): number => {
    const now = performance.now();
    const c = process.cpuUsage(lastCpu);
    const pct = ((c.user + c.system) / 1000 / Math.max(1, now - lastCpuWall)) * 100;
    lastCpu = process.cpuUsage();
    lastCpuWall = now;
    if (pct > peakCpu) peakCpu = pct;
    return pct;
  };

  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const el = elapsedS();
      if (el >= o.durationS || o.signal?.aborted) {
        clearInterval(timer);
        resolve();
        return;
      }
      const want = Math.min(o.users, Math.floor(el * o.rampRate) + 1);
      while (spawned < want) spawn(spawned++);
      if (!rec.steady.on && spawned >= o.users && el >= o.users / o.rampRate + o.thinkTimeS) {
        rec.steady.on = true;
        rec.steady.fromS = el;
      }
      const dueTick = Math.floor((el * 1000) / TICK_MS);
      while (wheel.now < dueTick) for (const u of wheel.advance()) operate(u);
      while (pendingFaults.length && pendingFaults[0].atS <= el) {
        const f = pendingFaults.shift()!;
        if (!probe) {
          faults.push({ ...f, firedAtS: el, ok: false, detail: 'Docker disabled' });
          continue;
        }
        say(`t=${el.toFixed(0)}s injecting fault: ${f.kind}`);
        faultPromises.push(
          probe.inject(f.kind, f.atS, el).then((res) => {
            faults.push(res);
            say(`t=${elapsedS().toFixed(0)}s fault ${res.kind}: ${res.ok ? '' : 'FAILED '}${res.detail}`);
          }),
        );
      }
      const now = performance.now();
      if (now - lastInterval >= o.intervalS * 1000) {
        rec.closeInterval(el, (now - lastInterval) / 1000, spawned, client.inflight, cpuPct());
        lastInterval = now;
      }
      if (probe && el - lastReplicas >= o.replicasEveryS) {
        lastReplicas = el;
        sampleReplicas();
      }
      if (now - lastProgress >= o.progressS * 1000) {
        const w = rec.takeWindow();
        const secs = (now - lastProgress) / 1000;
        lastProgress = now;
        const last = rec.series.at(-1);
        say(
          `t=${el.toFixed(0).padStart(4)}s users ${String(spawned).padStart(6)}/${o.users} ops/s ${(w.ops / secs).toFixed(1).padStart(7)} ` +
            `errors ${String(w.errors).padStart(4)} (${w.ops ? ((100 * w.errors) / w.ops).toFixed(2) : '0.00'}%) ` +
            `p95 ${w.p95 === null ? '-' : w.p95.toFixed(1)}ms inflight ${client.inflight} cpu ${(last?.cpuPct ?? 0).toFixed(1)}%`,
        );
      }
    }, TICK_MS);
  });

  // Drain: no new operations; wait (bounded) for requests in flight.
  stopping = true;
  const measured = elapsedS();
  const drainDeadline = performance.now() + Math.min(o.timeoutS, 15) * 1000;
  while (client.inflight > 0 && performance.now() < drainDeadline) await new Promise((r) => setTimeout(r, 50));
  const endNow = performance.now();
  if (endNow - lastInterval > 200) rec.closeInterval(elapsedS(), (endNow - lastInterval) / 1000, spawned, client.inflight, cpuPct());
  await Promise.race([Promise.all(faultPromises), new Promise((r) => setTimeout(r, 15_000))]);
  if (probe) {
    const deadline = performance.now() + 5000;
    while (replicaBusy && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    sampleReplicas();
    while (replicaBusy && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }
  eld.disable();
  const cpu = process.cpuUsage(cpu0);
  await client.close();

  const table = rec.table();
  const requests = table.reduce((s, r) => s + r.count, 0);
  const failures = table.reduce((s, r) => s + r.failures, 0);
  const services = [...new Set(replicaPoints.flatMap((p) => Object.keys(p.counts)))].sort();
  const minOf = (svc: string): number | null => {
    const pts = replicaPoints.filter((p) => svc in p.counts).map((p) => p.counts[svc]);
    return pts.length ? Math.min(...pts) : null;
  };
  const peakOps = Math.max(0, ...rec.series.map((p) => p.opsPerS));
  const read = { p50Ms: rec.read.percentile(50), p95Ms: rec.read.percentile(95), p99Ms: rec.read.percentile(99) };
  const write = { p50Ms: rec.write.percentile(50), p95Ms: rec.write.percentile(95), p99Ms: rec.write.percentile(99) };
  const steady = rec.steady.requests
    ? {
        fromS: rec.steady.fromS,
        requests: rec.steady.requests,
        failures: rec.steady.failures,
        opsPerS: rec.steady.requests / Math.max(1e-9, measured - rec.steady.fromS),
        readP95Ms: rec.steady.read.percentile(95),
        writeP95Ms: rec.steady.write.percentile(95),
      }
    : null;
  const notes = [...seeded.notes];
  if (skipped) notes.push(`${skipped} login-only operations skipped: no logged-in session free`);
  const { progress: _p, password: _pw, signal: _s, ...shownOptions } = o;
  void _p;
  void _pw;
  void _s;
  return {
    tool: 'forum-loadtest',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options: shownOptions as unknown as Record<string, unknown>,
    seed: { accounts, threads: seeded.threadIds.length, seconds: seeded.seconds, notes },
    durationS: measured,
    interrupted: o.signal?.aborted ? { atS: measured, reason: String(o.signal.reason ?? 'stopped') } : null,
    totals: {
      requests,
      failures,
      failurePct: requests ? (100 * failures) / requests : 0,
      opsPerS: requests / Math.max(measured, 1e-9),
      peakOpsPerS: peakOps,
      peakUsers: spawned,
    },
    read,
    write,
    steady,
    actions: table,
    errors: Object.fromEntries(rec.errorKinds),
    series: rec.series,
    replicas: { available: replicaPoints.length > 0, note: replicaNote, services, points: replicaPoints },
    faults,
    loadgen: {
      cpuUserS: cpu.user / 1e6,
      cpuSystemS: cpu.system / 1e6,
      cpuPctOfOneCore: ((cpu.user + cpu.system) / 1e3 / Math.max(1, endNow - t0)) * 100,
      peakCpuPct: peakCpu,
      peakInflight: client.peakInflight,
      eventLoopDelayP99Ms: eld.percentile(99) / 1e6,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    },
    sla: evaluateSla({
      readP95Ms: read.p95Ms,
      writeP95Ms: write.p95Ms,
      requests,
      failures,
      durationS: measured,
      peakOpsPerS: peakOps,
      peakUsers: spawned,
      minNginxReplicas: minOf('nginx'),
      minApiReplicas: minOf('api'),
      steady,
    }),
  };
}

export { WRITES };
