import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@forum/shared';
import { Client, spawnEntry, stackAndApiPerFile, waitFor, type InProcessApi, type Stack } from './support/env.js';
import { DEAD_STREAM, JOB_GROUP, JOB_STREAM, JobWorker, enqueue, queueStats } from '../src/jobs.js';
import { createRedis } from '../src/redis.js';

let stack: Stack;
let api: InProcessApi;

stackAndApiPerFile((s, a) => {
  stack = s;
  api = a;
});

let seq = 0;
const unflood = (id: number) => api.rt.redis.del(`flood:${id}`);

/** Starter A, subscribers N (notify) and E (email), and a thread of A's that both subscribe to. */
async function scenario() {
  const n = ++seq;
  const a = new Client(api.url);
  const ua = await a.register(`starter${n}`);
  const nc = new Client(api.url);
  const un = await nc.register(`notify${n}`);
  const ec = new Client(api.url);
  const ue = await ec.register(`email${n}`);
  await unflood(ua.id);
  const t = (await a.post('/api/threads/', { title: `Job thread ${n}`, post: 'first post of the job thread', category: 3 })).body;
  assert.equal((await nc.patch(`/api/threads/${t.id}/`, [{ op: 'replace', path: 'subscription', value: 'notify' }])).status, 200);
  assert.equal((await ec.patch(`/api/threads/${t.id}/`, [{ op: 'replace', path: 'subscription', value: 'email' }])).status, 200);
  return { a, ua, un, ue, t };
}

async function effects(postId: number) {
  const q = async (sql: string) => (await api.rt.db.rw.query(sql, [postId])).rows;
  return {
    notifications: await q('SELECT user_id FROM notifications WHERE post_id = $1 ORDER BY user_id'),
    mails: await q('SELECT user_id, to_email, subject FROM mail_outbox WHERE post_id = $1 ORDER BY user_id'),
    processed: (await q('SELECT processed_at FROM posts WHERE id = $1'))[0]?.processed_at !== null,
  };
}

/** Runs an in-process worker until the stream is empty (so the next job a spawned worker takes is ours). */
async function drain() {
  const logger = createLogger('drain', { level: 'silent' });
  const redis = createRedis(stack.env.REDIS_URL, stack.redis.password, logger, { blocking: true });
  const worker = new JobWorker(redis, api.rt.db, logger, { claimIdleMs: 1000, maxAttempts: 3, sweepAgeMs: 60_000 });
  await worker.ensureGroup();
  worker.start();
  try {
    await waitFor(
      'stream drained',
      async () => {
        const s = await queueStats(api.rt.redis);
        return s.length === 0 && s.pending === 0;
      },
      15_000,
    );
  } finally {
    await worker.stop();
    redis.disconnect();
  }
}

const workerEnv = (extra: Record<string, string> = {}) => {
  // the worker needs no session secret (nor the admin password)
  const { SESSION_SECRET: _s, ADMIN_PASSWORD: _a, ...env } = stack.env;
  return { ...env, METRICS_PORT: '0', JOB_CLAIM_IDLE_MS: '1000', ...extra };
};

describe('Worker jobs', () => {
  test('When a subscribed thread gets a reply, then notify subscribers get a notification, email ones a mail, counters follow', async () => {
    const logger = createLogger('worker-test', { level: 'silent' });
    const redis = createRedis(stack.env.REDIS_URL, stack.redis.password, logger, { blocking: true });
    const worker = new JobWorker(redis, api.rt.db, logger, { claimIdleMs: 1000, maxAttempts: 3, sweepAgeMs: 60_000 });
    await worker.ensureGroup();
    worker.start();
    try {
      const { a, ua, un, ue, t } = await scenario();
      await unflood(ua.id);
      const p = (await a.post(`/api/threads/${t.id}/posts/`, { post: 'a reply that notifies' })).body;
      const e = await waitFor('job effects', async () => ((await effects(p.id)).processed ? effects(p.id) : undefined), 30_000);
      assert.deepEqual(
        e.notifications.map((r) => r.user_id),
        [un.id, ue.id].sort((x, y) => x - y),
      );
      assert.deepEqual(
        e.mails.map((r) => r.user_id),
        [ue.id],
      );
      assert.equal(e.mails[0].to_email, `${ue.username}@example.com`);
      assert.match(e.mails[0].subject, new RegExp(`${ua.username} has replied to "Job thread`));
      // the category's counters follow within the worker's category sync interval (1 s)
      const truth = (
        await api.rt.db.rw.query('SELECT count(*)::int AS threads, sum(replies + 1)::int AS posts FROM threads WHERE category_id = 3 AND NOT is_hidden')
      ).rows[0];
      const counters = async () => {
        const cat = (await api.rt.db.rw.query('SELECT threads, posts, last_thread_id FROM categories WHERE id = 3')).rows[0];
        return [cat.threads, cat.posts, cat.last_thread_id];
      };
      await waitFor('category counters', async () => JSON.stringify(await counters()) === JSON.stringify([truth.threads, truth.posts, t.id]), 10_000).catch(
        async () => {
          assert.deepEqual(await counters(), [truth.threads, truth.posts, t.id]);
        },
      );
      const user = (await api.rt.db.rw.query('SELECT posts, threads FROM users WHERE id = $1', [ua.id])).rows[0];
      assert.deepEqual(user, { posts: 2, threads: 1 });
      // the same job delivered again changes nothing
      await enqueue(api.rt.redis, { type: 'post_created', postId: p.id });
      await waitFor('queue drained', async () => (await queueStats(api.rt.redis)).pending === 0 && (await api.rt.redis.xlen(JOB_STREAM)) === 0);
      assert.deepEqual(await effects(p.id), e);
      // the category listing shows the synced counters
      const cats = await new Client(api.url).get('/api/categories/');
      assert.equal(cats.body[0].threads, truth.threads);
      // an unreadable job goes to the dead-letter stream instead of looping
      await api.rt.redis.xadd(JOB_STREAM, '*', 'job', '{not json');
      await waitFor('dead letter', async () => (await api.rt.redis.xlen(DEAD_STREAM)) === 1);
    } finally {
      await worker.stop();
      redis.disconnect();
    }
  });

  for (const fault of ['before_commit', 'after_commit'] as const) {
    test(`When a worker is SIGKILLed ${fault.replace('_', ' ')} of a job, then another worker completes it exactly once`, async () => {
      const { a, ua, un, ue, t } = await scenario();
      await drain();
      const first = spawnEntry('worker', workerEnv({ WORKER_FAULT: fault }));
      let second: ReturnType<typeof spawnEntry> | undefined;
      try {
        await first.waitForLine((o) => o.msg === 'worker started');
        await unflood(ua.id);
        const p = (await a.post(`/api/threads/${t.id}/posts/`, { post: `reply while the worker dies ${fault}` })).body;
        const paused = await first.waitForLine((o) => o.event === 'job_paused', 60_000);
        assert.equal(paused.at, fault);
        // the paused job is the reply's
        const [[, fields]] = (await api.rt.redis.xrange(JOB_STREAM, String(paused.jobId), String(paused.jobId))) as [string, string[]][];
        assert.deepEqual(JSON.parse(fields[1]), { type: 'post_created', postId: p.id });
        const mid = await effects(p.id);
        assert.equal(mid.processed, fault === 'after_commit', 'committed only after the commit point');
        await first.kill('SIGKILL');
        second = spawnEntry('worker', workerEnv());
        await second.waitForLine((o) => o.msg === 'worker started');
        const done = await waitFor(
          'job completed by the second worker',
          async () => {
            const e = await effects(p.id);
            const s = await queueStats(api.rt.redis);
            return e.processed && s.pending === 0 && s.length === 0 ? e : undefined;
          },
          60_000,
          100,
        );
        assert.deepEqual(
          done.notifications.map((r) => r.user_id),
          [un.id, ue.id].sort((x, y) => x - y),
        );
        assert.deepEqual(
          done.mails.map((r) => r.user_id),
          [ue.id],
        );
        const pending = (await api.rt.redis.xpending(JOB_STREAM, JOB_GROUP)) as unknown[];
        assert.equal(pending[0], 0);
        // and nothing doubled for any post of this thread
        const dup = await api.rt.db.rw.query(
          `SELECT count(*)::int AS n FROM (SELECT user_id, post_id FROM notifications WHERE thread_id = $1 GROUP BY 1, 2 HAVING count(*) > 1) d`,
          [t.id],
        );
        assert.equal(dup.rows[0].n, 0);
      } finally {
        await first.kill('SIGKILL');
        await second?.kill('SIGTERM');
      }
    });
  }

  test('When a job was lost (never reached Redis), then the worker sweep re-enqueues and completes it', async () => {
    const { ua, un, t } = await scenario();
    // a committed post whose enqueue was lost, e.g. Redis failed over before replicating the XADD
    const { rows } = await api.rt.db.rw.query(
      `INSERT INTO posts (thread_id, category_id, poster_id, poster_name, original, parsed) VALUES ($1, 3, $2, $3, 'lost job post', '<p>lost job post</p>') RETURNING id`,
      [t.id, ua.id, ua.username],
    );
    const worker = spawnEntry('worker', workerEnv({ JOB_SWEEP_AGE_MS: '300' }));
    try {
      const e = await waitFor(
        'sweep completes the lost job',
        async () => ((await effects(rows[0].id)).processed ? effects(rows[0].id) : undefined),
        60_000,
        100,
      );
      assert.ok(e.notifications.some((r) => r.user_id === un.id));
      await worker.waitForLine((o) => o.msg === 're-enqueued posts whose job never completed');
    } finally {
      await worker.kill('SIGTERM');
    }
  });

  test('When the worker runs, then /metrics and health answer on METRICS_PORT; when it gets SIGTERM, then it exits 0', async () => {
    const { freePort } = await import('./support/env.js');
    const port = await freePort();
    const w = spawnEntry('worker', workerEnv({ METRICS_PORT: String(port) }));
    try {
      await w.waitForLine((o) => o.msg === 'worker metrics/health listening');
      const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(m, /forum_jobs\{[^}]*state="stream"/);
      assert.match(m, /pg_pool_connections/);
      const ready = await fetch(`http://127.0.0.1:${port}/healthcheck/ready/`);
      assert.equal(ready.status, 200);
      const started = Date.now();
      assert.equal(await w.kill('SIGTERM'), 0);
      assert.ok(Date.now() - started < 8000);
    } finally {
      await w.kill('SIGKILL');
    }
  });
});
