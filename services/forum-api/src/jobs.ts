import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '@forum/shared';
import type { Db, Queryable } from './db.js';
import type { Redis } from './redis.js';

/**
 * Jobs travel through a Redis stream read by a consumer group. A job stays in the group's pending list until
 * its handler committed and the worker acknowledged it; if the worker dies first, another worker claims it
 * with XAUTOCLAIM once it has been idle JOB_CLAIM_IDLE_MS. Handlers are idempotent (a completion mark plus
 * unique keys with ON CONFLICT DO NOTHING), so a job that runs twice has its effects once.
 */
export const JOB_STREAM = 'forum:jobs';
export const JOB_GROUP = 'workers';
export const DEAD_STREAM = 'forum:jobs:dead';
const ATTEMPTS_HASH = 'forum:jobs:attempts';
const STREAM_MAXLEN = 1_000_000;

export type Job = { type: 'post_created'; postId: number } | { type: 'category_sync'; categoryId: number };

export async function enqueue(redis: Redis, job: Job): Promise<string> {
  return (await redis.xadd(JOB_STREAM, 'MAXLEN', '~', String(STREAM_MAXLEN), '*', 'job', JSON.stringify(job))) as string;
}

export async function queueStats(redis: Redis): Promise<{ length: number; pending: number; dead: number }> {
  const [len, pending, dead] = await Promise.all([
    redis.xlen(JOB_STREAM),
    redis.xpending(JOB_STREAM, JOB_GROUP).catch(() => [0]) as Promise<unknown[]>,
    redis.xlen(DEAD_STREAM),
  ]);
  return { length: len, pending: Number(pending[0] ?? 0), dead };
}

/** Keeps a category's counters and "last thread/post" fields equal to what its threads say. */
export async function syncCategory(c: Queryable, categoryId: number): Promise<void> {
  await c.query(
    `UPDATE categories c SET threads = s.threads, posts = s.posts,
       last_thread_id = l.id, last_thread_title = l.title, last_thread_slug = l.slug,
       last_post_on = l.last_post_on, last_poster_name = l.last_poster_name
     FROM (SELECT count(*)::int AS threads, coalesce(sum(replies + 1), 0)::int AS posts
           FROM threads WHERE category_id = $1 AND NOT is_hidden) s
     LEFT JOIN LATERAL (SELECT id, title, slug, last_post_on, last_poster_name FROM threads
           WHERE category_id = $1 AND NOT is_hidden ORDER BY last_post_id DESC LIMIT 1) l ON true
     WHERE c.id = $1`,
    [categoryId],
  );
}

export interface WorkerOptions {
  claimIdleMs: number;
  maxAttempts: number;
  sweepAgeMs: number;
  fault?: '' | 'before_commit' | 'after_commit';
  /**
   * A post job marks its category dirty; the worker recomputes a dirty category's counters at most this often
   * (default 1000 ms). The recompute reads every thread of the category: run in every post job (the load test's 18
   * a second) it was the primary's largest cost, and every post job queued on the category's row lock.
   */
  categorySyncMs?: number;
  onJob?: (type: string, outcome: 'ok' | 'failed' | 'dead', seconds: number) => void;
}

const hang = () => new Promise<never>(() => undefined);

export class JobWorker {
  readonly consumer = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private stopping = false;
  private loop?: Promise<void>;
  private lastClaim = 0;
  private lastSweep = 0;
  private lastCategorySync = 0;
  private lastSessionPrune = 0;
  /** categories whose counters wait for a recompute (all of them at start: a crash may have left one behind) */
  private readonly dirtyCategories = new Set<number>();
  private allCategoriesDirty = true;

  constructor(
    private readonly redis: Redis,
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly opts: WorkerOptions,
  ) {}

  async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', JOB_STREAM, JOB_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    await this.syncCategories().catch(() => undefined);
  }

  /** Recomputes the dirty categories' counters (each its own statement); a failed one stays dirty. */
  async syncCategories(): Promise<void> {
    if (this.allCategoriesDirty) {
      const { rows } = await this.db.rw.query<{ id: number }>('SELECT id FROM categories');
      for (const r of rows) this.dirtyCategories.add(r.id);
      this.allCategoriesDirty = false;
    }
    for (const id of [...this.dirtyCategories]) {
      this.dirtyCategories.delete(id);
      try {
        await syncCategory(this.db.rw, id);
      } catch (err) {
        this.dirtyCategories.add(id);
        throw err;
      }
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.tick();
      } catch (err) {
        const msg = (err as Error).message;
        if (msg.includes('NOGROUP')) await this.ensureGroup().catch(() => undefined);
        else this.logger.warn({ err: msg }, 'job loop error; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  async tick(): Promise<void> {
    const now = Date.now();
    if (now - this.lastClaim >= Math.max(250, this.opts.claimIdleMs / 2)) {
      this.lastClaim = now;
      await this.claimStale();
    }
    if (now - this.lastSweep >= Math.max(1000, this.opts.sweepAgeMs / 4)) {
      this.lastSweep = now;
      await this.sweep();
    }
    if (now - this.lastCategorySync >= (this.opts.categorySyncMs ?? 1000)) {
      this.lastCategorySync = now;
      await this.syncCategories();
    }
    const res = (await this.redis.xreadgroup('GROUP', JOB_GROUP, this.consumer, 'COUNT', 10, 'BLOCK', 1000, 'STREAMS', JOB_STREAM, '>')) as
      [string, [string, string[]][]][] | null;
    for (const [, entries] of res ?? []) for (const [id, fields] of entries) await this.handle(id, fields);
  }

  /** Takes over jobs whose consumer died (or failed them) and that stayed unacknowledged for claimIdleMs. */
  private async claimStale(): Promise<void> {
    let cursor = '0-0';
    do {
      const [next, entries] = (await this.redis.xautoclaim(JOB_STREAM, JOB_GROUP, this.consumer, this.opts.claimIdleMs, cursor, 'COUNT', 50)) as [
        string,
        [string, string[] | null][],
      ];
      for (const [id, fields] of entries) {
        if (fields) await this.handle(id, fields);
        else await this.ack(id);
      }
      cursor = next;
    } while (cursor !== '0-0' && !this.stopping);
  }

  /** Re-enqueues posts whose job never completed (e.g. lost when Redis failed over before replicating it). */
  private async sweep(): Promise<void> {
    const { rows } = await this.db.rw.query<{ id: number }>(
      `SELECT id FROM posts WHERE processed_at IS NULL AND posted_on < now() - make_interval(secs => $1::float8 / 1000) ORDER BY id LIMIT 200`,
      [this.opts.sweepAgeMs],
    );
    for (const r of rows) await enqueue(this.redis, { type: 'post_created', postId: r.id });
    if (rows.length) this.logger.warn({ count: rows.length }, 're-enqueued posts whose job never completed');
    if (Date.now() - this.lastSessionPrune > 600_000) {
      this.lastSessionPrune = Date.now();
      // session records past their expiry, and revocations older than any api task's tombstones (10 min)
      await this.db.rw.query(`DELETE FROM sessions WHERE expires_on < now() OR revoked_at < now() - interval '1 hour'`);
    }
  }

  private async ack(id: string): Promise<void> {
    await this.redis.multi().xack(JOB_STREAM, JOB_GROUP, id).xdel(JOB_STREAM, id).hdel(ATTEMPTS_HASH, id).exec();
  }

  private async handle(id: string, fields: string[]): Promise<void> {
    const started = process.hrtime.bigint();
    const secs = () => Number(process.hrtime.bigint() - started) / 1e9;
    let job: Job | undefined;
    try {
      job = JSON.parse(fields[fields.indexOf('job') + 1] ?? 'null') as Job;
    } catch {
      job = undefined;
    }
    const type = job?.type ?? 'invalid';
    const attempts = await this.redis.hincrby(ATTEMPTS_HASH, id, 1);
    if (!job || attempts > this.opts.maxAttempts) {
      await this.redis.xadd(DEAD_STREAM, 'MAXLEN', '~', '100000', '*', 'id', id, 'job', JSON.stringify(job ?? fields), 'attempts', String(attempts));
      await this.ack(id);
      this.logger.error({ jobId: id, type, attempts }, 'job moved to the dead-letter stream');
      this.opts.onJob?.(type, 'dead', secs());
      return;
    }
    const log = this.logger.child({ jobId: id, type, attempt: attempts });
    try {
      let dirty: number | undefined;
      await this.db.tx(async (c) => {
        dirty = await this.execute(c, job);
        if (this.opts.fault === 'before_commit') {
          log.warn({ event: 'job_paused', at: 'before_commit' }, 'fault injection: job paused before commit');
          await hang();
        }
      });
      if (dirty !== undefined) this.dirtyCategories.add(dirty);
      if (this.opts.fault === 'after_commit') {
        log.warn({ event: 'job_paused', at: 'after_commit' }, 'fault injection: job paused after commit');
        await hang();
      }
      await this.ack(id);
      log.info({ ms: Math.round(secs() * 1000) }, 'job done');
      this.opts.onJob?.(type, 'ok', secs());
    } catch (err) {
      // left pending: claimed again after claimIdleMs (by this or another worker)
      log.warn({ err: (err as Error).message }, 'job failed; will be retried');
      this.opts.onJob?.(type, 'failed', secs());
    }
  }

  /** Runs one job in its transaction; returns the category whose counters it made stale, if any. */
  private async execute(c: Queryable, job: Job): Promise<number | undefined> {
    if (job.type === 'category_sync') {
      await syncCategory(c, job.categoryId);
      return undefined;
    }
    const { rows } = await c.query<{
      id: number;
      thread_id: number;
      category_id: number;
      poster_id: number | null;
      poster_name: string;
      processed_at: Date | null;
      title: string;
      slug: string;
      original: string;
    }>(
      `SELECT p.id, p.thread_id, p.category_id, p.poster_id, p.poster_name, p.processed_at, p.original, t.title, t.slug
       FROM posts p JOIN threads t ON t.id = p.thread_id WHERE p.id = $1 FOR UPDATE OF p`,
      [job.postId],
    );
    const post = rows[0];
    if (!post || post.processed_at) return undefined; // deleted, or already done: nothing to repeat
    await c.query(
      `INSERT INTO notifications (user_id, thread_id, post_id, actor_name)
       SELECT s.user_id, s.thread_id, $2, $3 FROM subscriptions s
       WHERE s.thread_id = $1 AND s.user_id IS DISTINCT FROM $4
       ON CONFLICT (user_id, post_id) DO NOTHING`,
      [post.thread_id, post.id, post.poster_name, post.poster_id],
    );
    const url = `/t/${post.slug}/${post.thread_id}/post/${post.id}/`;
    await c.query(
      `INSERT INTO mail_outbox (user_id, post_id, to_email, subject, body)
       SELECT s.user_id, $2, u.email, $4, $5 || E'\\n\\n' || $6 FROM subscriptions s JOIN users u ON u.id = s.user_id
       WHERE s.thread_id = $1 AND s.send_email AND s.user_id IS DISTINCT FROM $3
       ON CONFLICT (user_id, post_id) DO NOTHING`,
      [post.thread_id, post.id, post.poster_id, `${post.poster_name} has replied to "${post.title}"`, post.original.slice(0, 2000), url],
    );
    if (post.poster_id !== null) {
      await c.query(
        `UPDATE users SET posts = (SELECT count(*) FROM posts WHERE poster_id = $1),
           threads = (SELECT count(*) FROM threads WHERE starter_id = $1) WHERE id = $1`,
        [post.poster_id],
      );
    }
    await c.query('UPDATE posts SET processed_at = now() WHERE id = $1', [post.id]);
    return post.category_id;
  }
}
