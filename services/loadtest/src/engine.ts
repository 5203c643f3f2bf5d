import { DockerProbe } from './docker.js';
import { FaultSchedule } from './faults.js';
import { Client } from './http.js';
import { LoadgenMeter, ReplicaSampler } from './observers.js';
import { Progress } from './progress.js';
import { AUTH_SHARE, isAuthUser, WRITES } from './scenario.js';
import { seed, type SeedResult } from './seed.js';
import { Recorder } from './stats.js';
import { summarize } from './summary.js';
import { isCertificateError, trustWith, untrustedMessage } from './tls.js';
import type { FaultSpec, Summary } from './types.js';
import { TICK_MS, VirtualUsers } from './users.js';

export interface RunOptions {
  target: string;
  /** PEM file of a CA an https target's certificate may chain to, besides the system's (src/tls.ts caFileFor) */
  caFile?: string;
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
  target: 'https://127.0.0.1:443',
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the whole load test: seed, ramp, steady load with faults, drain; returns the summary. A stop (the signal)
 * during seeding throws InterruptedBeforeLoad; a stop during the load ends it early and the summary covers what ran.
 */
export async function run(o: RunOptions): Promise<Summary> {
  const say = o.progress ?? ((l: string) => process.stderr.write(`${l}\n`));
  const client = new Client(o.target, o.connections, o.timeoutS * 1000, o.caFile ? trustWith(o.caFile) : undefined);
  await refuseUntrustedEdge(client, o);
  const accounts = accountsFor(o);

  say(`seeding: ${accounts} accounts, ${o.seedThreads} threads at ${o.target} ...`);
  const seeded = await seedUnlessStopped(client, o, accounts);
  say(`seeded in ${seeded.seconds.toFixed(1)} s: ${seeded.notes.join('; ')}`);

  const rec = new Recorder();
  const users = new VirtualUsers(o, client, seeded, accounts, rec);
  const probe = o.docker ? new DockerProbe(o.stack) : null;
  const meter = new LoadgenMeter();
  const t0 = performance.now();
  const startedAt = new Date();
  const elapsedS = (): number => (performance.now() - t0) / 1000;
  const replicas = new ReplicaSampler(probe, o.replicasEveryS, elapsedS);
  const faults = new FaultSchedule(o.faults, probe, say, elapsedS);
  const progress = new Progress(o, { rec, users, client, meter }, say, t0);

  await driveLoad(o, elapsedS, (el) => {
    users.rampTo(Math.min(o.users, Math.floor(el * o.rampRate) + 1));
    markSteadyOnceRampedUp(o, rec, users, el);
    users.wake(Math.floor((el * 1000) / TICK_MS));
    faults.fireDue(el);
    const now = performance.now();
    progress.closeIntervalIfDue(now, el);
    replicas.sampleIfDue(el);
    progress.printIfDue(now, el);
  });

  users.stop();
  const measuredS = elapsedS();
  const endNow = await drainRequests(client, Math.min(o.timeoutS, 15) * 1000);
  progress.closeLastInterval(endNow, elapsedS());
  await faults.settle();
  await replicas.settle();
  const loadgen = meter.finish(endNow, client.peakInflight);
  await client.close();

  return summarize({
    shownOptions: shownOptions(o),
    startedAt,
    accounts,
    seeded,
    skipped: users.skipped,
    measuredS,
    interrupted: o.signal?.aborted ? { atS: measuredS, reason: String(o.signal.reason ?? 'stopped') } : null,
    peakUsers: users.spawned,
    rec,
    replicas: { points: replicas.points, note: replicas.note },
    faults: faults.results,
    loadgen,
  });
}

/**
 * An https target whose certificate is not trusted fails every request alike: stop before seeding with a message
 * that names the CA file tried, not after a run of network errors. Other failures are left to the seeding.
 */
async function refuseUntrustedEdge(client: Client, o: RunOptions): Promise<void> {
  if (!o.target.startsWith('https:')) return;
  const r = await client.request('GET', '/', null);
  if (r.status === 0 && isCertificateError(r.error)) {
    await client.close();
    throw new Error(untrustedMessage(o.target, r.error!, o.caFile));
  }
}

/** Accounts to seed: one per logged-in user unless given, at most maxAccounts, at least one. */
function accountsFor(o: RunOptions): number {
  const authUsers = Array.from({ length: o.users }, (_, i) => i).filter((i) => isAuthUser(i, o.authShare)).length;
  return Math.max(1, o.accounts ?? Math.min(o.maxAccounts, Math.max(1, authUsers)));
}

/**
 * The accounts and threads the load needs. Seeding cannot be cut short request by request, so a stop abandons it
 * (nothing has been measured yet) and closes the client.
 */
async function seedUnlessStopped(client: Client, o: RunOptions, accounts: number): Promise<SeedResult> {
  const stopped = new Promise<never>((_, reject) => {
    const fail = () => reject(new InterruptedBeforeLoad('stopped while seeding: no load ran, so there is no report'));
    if (o.signal?.aborted) fail();
    else o.signal?.addEventListener('abort', fail, { once: true });
  });
  stopped.catch(() => undefined);
  try {
    return await Promise.race([
      seed(client, { accounts, threads: o.seedThreads, userPrefix: o.userPrefix, password: o.password, category: o.category, concurrency: 8 }),
      stopped,
    ]);
  } catch (err) {
    await client.close();
    throw err;
  }
}

/** Calls `tick` with the run's elapsed seconds every TICK_MS until the duration has passed or the run is stopped. */
function driveLoad(o: RunOptions, elapsedS: () => number, tick: (el: number) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const el = elapsedS();
      if (el >= o.durationS || o.signal?.aborted) {
        clearInterval(timer);
        resolve();
        return;
      }
      tick(el);
    }, TICK_MS);
  });
}

/**
 * Steady state begins once every user has started and one think time has passed after the last one (logins done):
 * the capacity goal is judged from there.
 */
function markSteadyOnceRampedUp(o: RunOptions, rec: Recorder, users: VirtualUsers, el: number): void {
  if (!rec.steady.on && users.spawned >= o.users && el >= o.users / o.rampRate + o.thinkTimeS) {
    rec.steady.on = true;
    rec.steady.fromS = el;
  }
}

/** Waits, `maxMs` at most, for the requests in flight; returns when it stopped waiting (performance.now()). */
async function drainRequests(client: Client, maxMs: number): Promise<number> {
  const deadline = performance.now() + maxMs;
  while (client.inflight > 0 && performance.now() < deadline) await sleep(50);
  return performance.now();
}

/** The options as the report shows them: no password, no callbacks. */
function shownOptions(o: RunOptions): Record<string, unknown> {
  const { progress: _p, password: _pw, signal: _s, ...shown } = o;
  void _p;
  void _pw;
  void _s;
  return shown as unknown as Record<string, unknown>;
}

export { WRITES };
