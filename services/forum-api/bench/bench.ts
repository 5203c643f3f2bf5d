/**
 * `npm run bench:api`: real PostgreSQL 15 + Redis on this machine, the BUILT api (dist/main.js) as one process
 * pinned to one core, seeded data; wrk measures read-thread (GET /api/threads/{id}/posts/) and reply
 * (POST /api/threads/{id}/posts/) req/s and p50/p95/p99.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Client, freePort, SERVICE_DIR, startStack, waitFor } from '../test/support/env.js';

const DURATION = process.env.BENCH_DURATION ?? '15s';
const CONNECTIONS = process.env.BENCH_CONNECTIONS ?? '16';
const PACE_MS = process.env.BENCH_PACE_MS ?? '4';
const THREADS = 200;
const POSTS_PER_THREAD = 18;
const USERS = 64;
const ncpu = cpus().length;
const apiCpu = '0';
const loadCpus = ncpu > 1 ? `1-${ncpu - 1}` : '0';
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

function spawnApi(env: Record<string, string>, entry: string) {
  const prof = process.env.BENCH_PROFILE && entry === 'main' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const p = spawn('taskset', ['-c', entry === 'main' ? apiCpu : loadCpus, process.execPath, ...prof, join(SERVICE_DIR, 'dist', `${entry}.js`)], {
    // access logs stay on (info), as in production; they go to /dev/null here
    env: { PATH: process.env.PATH ?? '', ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return p;
}

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
let apiPid = 0;

function wrk(script: string, url: string, env: Record<string, string>, duration = DURATION, pid = apiPid): Record<string, number> {
  const cpuBefore = cpuSeconds(pid);
  const r = spawnSync(
    'taskset',
    ['-c', loadCpus, 'wrk', '-t2', `-c${CONNECTIONS}`, `-d${duration}`, '--timeout', '5s', '-s', join(SERVICE_DIR, 'bench', script), url],
    {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    },
  );
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`no RESULT line in wrk output:\n${r.stdout}`);
  const out = Object.fromEntries(
    line
      .slice(7)
      .split(' ')
      .map((kv) => kv.split('='))
      .map(([k, v]) => [k, Number(v)]),
  );
  const cpu = cpuSeconds(pid) - cpuBefore;
  // req/s one fully available core would serve at this per-request CPU cost (the host is shared with other work)
  return { ...out, rps: out.requests / (out.duration_us / 1e6), cpu_ms_per_req: (cpu * 1000) / out.requests, per_core_rps: out.requests / cpu };
}

/** A bare node:http server (no framework, no log) answering a 9 KB JSON body: the host's floor. */
const NODE_FLOOR = `const b = Buffer.alloc(9000, 97);
require('node:http').createServer((q, s) => { s.setHeader('Content-Type', 'application/json; charset=utf-8'); s.setHeader('Content-Length', b.length); s.end(b); })
  .listen(Number(process.argv[1]), '127.0.0.1');`;

const fmt = (name: string, r: Record<string, number>) =>
  `${name.padEnd(12)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${(r.p50_us / 1000).toFixed(2)} ms   p95 ${(r.p95_us / 1000).toFixed(2)} ms   p99 ${(r.p99_us / 1000).toFixed(2)} ms   max ${(r.max_us / 1000).toFixed(1)} ms   requests ${r.requests}   errors ${r.errors}   non-2xx ${r.non2xx}   api CPU ${r.cpu_ms_per_req.toFixed(3)} ms/req (= ${r.per_core_rps.toFixed(0)} req/s per core)`;

const stack = await startStack();
const tmp = mkdtempSync(join(tmpdir(), 'forum-bench-'));
const procs: ReturnType<typeof spawn>[] = [];
try {
  const port = await freePort();
  const env = { ...stack.env, PORT: String(port), METRICS_PORT: String(await freePort()), FLOOD_INTERVAL_MS: '0', PG_POOL_MAX: '10' };
  const api = spawnApi(env, 'main');
  procs.push(api);
  apiPid = api.pid!;
  const base = `http://127.0.0.1:${port}`;
  await waitFor('api ready', async () => (await fetch(`${base}/healthcheck/ready/`)).status === 200, 60_000, 200);
  procs.push(spawnApi({ ...env, METRICS_PORT: String(await freePort()) }, 'worker'));

  log(`seeding ${THREADS} threads x ${POSTS_PER_THREAD} posts, ${USERS} users`);
  const sessions: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const c = new Client(base);
    await c.register(`bench${i}`, 'bench-password-1');
    sessions.push(`${[...c.cookies].map(([k, v]) => `${k}=${v}`).join('; ')}|${c.csrf}`);
  }
  const db = new pg.Client({ host: '127.0.0.1', port: stack.pg.port, user: 'forum', password: stack.env.PGPASSWORD, database: 'forum' });
  await db.connect();
  await db.query(
    `WITH t AS (
       INSERT INTO threads (category_id, title, slug, starter_id, starter_name, starter_slug, last_poster_id, last_poster_name, last_poster_slug, replies)
       SELECT 3, 'Benchmark thread ' || g, 'benchmark-thread-' || g, 2, 'bench0', 'bench0', 2, 'bench0', 'bench0', $1 - 1 FROM generate_series(1, $2) g
       RETURNING id)
     INSERT INTO posts (thread_id, category_id, poster_id, poster_name, original, parsed, processed_at)
     SELECT t.id, 3, 2, 'bench0', 'Seeded post ' || p, '<p>Seeded post ' || p || ' with a paragraph of text that looks like a real answer to a programming question, '
       || 'about as long as a typical forum reply, with <strong>some</strong> markup and <code>code()</code> in it.</p>', now()
     FROM t, generate_series(1, $1) p`,
    [POSTS_PER_THREAD, THREADS],
  );
  await db.query(
    `UPDATE threads t SET first_post_id = s.mn, last_post_id = s.mx FROM (SELECT thread_id, min(id) mn, max(id) mx FROM posts GROUP BY 1) s WHERE s.thread_id = t.id`,
  );
  await db.query('ANALYZE');
  await db.end();
  const sessionsFile = join(tmp, 'sessions.txt');
  writeFileSync(sessionsFile, `${sessions.join('\n')}\n`);

  // warm up the JIT and the pools
  wrk('read.lua', base, { THREADS: String(THREADS) }, '3s');
  if (process.env.BENCH_ONLY === 'reply') {
    // profiling aid: only the reply run, then a clean SIGTERM so --cpu-prof writes its file
    process.stdout.write(`${fmt('reply', wrk('reply.lua', base, { THREADS: String(THREADS), SESSIONS: sessionsFile }))}\n`);
    api.kill('SIGTERM');
    await new Promise((r) => api.once('exit', r));
  } else if (process.env.BENCH_ONLY === 'read') {
    // profiling aid: only the read-thread run
    process.stdout.write(`${fmt('read-thread', wrk('read.lua', base, { THREADS: String(THREADS) }))}\n`);
  } else {
    // the host's floor: a bare node:http server answering a cached-page-sized body, same pinning; its p99 is what this
    // (shared) machine allows at all, whatever the API does
    const floorPort = await freePort();
    const floor = spawn('taskset', ['-c', apiCpu, process.execPath, '-e', NODE_FLOOR, String(floorPort)], { stdio: 'ignore' });
    procs.push(floor);
    await waitFor('node floor', async () => (await fetch(`http://127.0.0.1:${floorPort}/`)).ok, 10_000, 100);
    const node0 = wrk('read.lua', `http://127.0.0.1:${floorPort}`, { THREADS: '1', READ_PATH: '/x/%d/' }, DURATION, floor.pid!);
    floor.kill('SIGKILL');
    const base0 = wrk('read.lua', base, { THREADS: '1', READ_PATH: '/healthcheck/' });
    const read = wrk('read.lua', base, { THREADS: String(THREADS) });
    // the target is stated at a rate (>= 3,000 req/s with p99 < 20 ms): the same reads paced to about that rate
    // (each of the connections pauses PACE_MS after every response), so p99 is not queueing behind a saturated core
    const paced = wrk('read.lua', base, { THREADS: String(THREADS), PACE_MS: PACE_MS });
    const thread = wrk('read.lua', base, { THREADS: String(THREADS), READ_PATH: '/api/threads/%d/' });
    // signed-in readers skip the guests' page cache: every request reads the session, the thread, its posts and the
    // read-tracking state from Redis and PostgreSQL
    const readAuth = wrk('read.lua', base, { THREADS: String(THREADS), SESSIONS: sessionsFile });
    const reply = wrk('reply.lua', base, { THREADS: String(THREADS), SESSIONS: sessionsFile });

    const when = new Date().toISOString();
    const out = [
      `forum-api benchmark ${when} (node ${process.version}, ${ncpu} CPUs: api pinned to CPU ${apiCpu}; PostgreSQL 15, Redis, worker, wrk on CPUs ${loadCpus})`,
      `wrk -t2 -c${CONNECTIONS} -d${DURATION}; ${THREADS} threads x ${POSTS_PER_THREAD} posts; replies by ${USERS} users, flood limit off (FLOOD_INTERVAL_MS=0)`,
      fmt('node floor', node0) + '   (bare node:http, 9 KB body: what this host allows on that core right now, for scale)',
      fmt('healthcheck', base0) + '   (GET /healthcheck/: the Express + access log + metrics floor, for scale)',
      fmt('read-thread', read) + '   (GET /api/threads/{id}/posts/: thread + 18 posts)',
      fmt('read paced', paced) + `   (the same, each connection pausing ${PACE_MS} ms after a response: p99 at ~3,000 req/s rather than at saturation)`,
      fmt('thread', thread) + '   (GET /api/threads/{id}/)',
      fmt('read signed-in', readAuth) + '   (read-thread as one of the signed-in users: no page cache, session + DB every time)',
      fmt('reply', reply) + '   (POST /api/threads/{id}/posts/, signed in, CSRF)',
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  }
} finally {
  // --cpu-prof writes its file only on a clean exit: SIGTERM the API first (it drains and exits within 8 s)
  const api = procs[0];
  if (process.env.BENCH_PROFILE && api && api.exitCode === null && api.signalCode === null) {
    const exited = new Promise((r) => api.once('exit', r));
    api.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  }
  for (const p of procs) p.kill('SIGKILL');
  await stack.stop();
  rmSync(tmp, { recursive: true, force: true });
}
