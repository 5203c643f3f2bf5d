import type { Queryable } from './db.js';
import { RULES, type ListName } from './forum-rules.js';

/**
 * The SQL of threads and posts. Each page and each post is ONE statement (a round trip to Pgpool costs more than
 * the work), so the statements are wide; callers pick the connection (`db.rw`, `db.ro` or a transaction's).
 */

/** Columns every thread query selects (with the viewer's read marker and subscription). */
const THREAD_COLUMNS = `t.id, t.category_id, t.title, t.slug, t.replies, t.started_on, t.last_post_on, t.first_post_id,
  t.last_post_id, t.starter_id, t.starter_name, t.starter_slug, t.last_poster_id, t.last_poster_name, t.last_poster_slug,
  t.weight, t.is_closed, t.is_hidden, tr.last_read_post_id, s.send_email`;

/** `$uid` placeholder must be the viewer's id (0 for anonymous). */
const threadJoins = (uid: string) => `FROM threads t
  LEFT JOIN thread_reads tr ON tr.thread_id = t.id AND tr.user_id = ${uid}
  LEFT JOIN subscriptions s ON s.thread_id = t.id AND s.user_id = ${uid}`;

const POST_COLUMNS = 'p.id, p.poster_id, p.poster_name, u.slug AS poster_slug, u.posts AS poster_posts, p.parsed, p.posted_on, p.updated_on, p.edits';

/**
 * The SQL form of `canSee` (forum-rules.ts) for threads aliased `t`: `viewerId` and `staff` are SQL expressions.
 * A staff viewer known in advance gives `true`, so the planner drops the condition.
 */
export function visibleSql(viewerId: string, staff: string | boolean): string {
  if (staff === true) return 'true';
  return staff === false ? `(NOT t.is_hidden OR t.starter_id = ${viewerId})` : `(NOT t.is_hidden OR t.starter_id = ${viewerId} OR ${staff})`;
}

export interface ThreadRow {
  id: number;
  category_id: number;
  title: string;
  slug: string;
  replies: number;
  started_on: string | Date;
  last_post_on: string | Date;
  first_post_id: number | null;
  last_post_id: number | null;
  starter_id: number | null;
  starter_name: string;
  starter_slug: string;
  last_poster_id: number | null;
  last_poster_name: string;
  last_poster_slug: string;
  weight: number;
  is_closed: boolean;
  is_hidden: boolean;
  last_read_post_id: number | null;
  send_email: boolean | null;
}

export interface PostRow {
  id: number;
  poster_id: number | null;
  poster_name: string;
  poster_slug: string | null;
  poster_posts?: number | null;
  parsed: string;
  posted_on: string | Date;
  updated_on: string | Date | null;
  edits: number;
}

/** The thread with the viewer's read marker and subscription (viewerId 0: a guest); `lock` takes its row lock. */
export async function findThread(c: Queryable, id: number, viewerId: number, lock = false): Promise<ThreadRow | undefined> {
  const { rows } = await c.query<ThreadRow>(`SELECT ${THREAD_COLUMNS} ${threadJoins('$2')} WHERE t.id = $1${lock ? ' FOR UPDATE OF t' : ''}`, [id, viewerId]);
  return rows[0];
}

const LIST_FILTER: Record<ListName, string> = {
  all: 'true',
  my: 't.starter_id = $2',
  new: 'tr.user_id IS NULL',
  unread: 'tr.user_id IS NOT NULL AND t.last_post_id > tr.last_read_post_id',
  subscribed: 's.user_id IS NOT NULL',
};

export interface ListQuery {
  category: number;
  list: ListName;
  /** the last_post_id to continue from; null: the first page */
  start: number | null;
  viewer?: { id: number; isStaff: boolean };
}

/** `tree_size` 0: no such category. `page` holds one thread more than a page when there is a next page. */
export interface ListPageRows {
  tree_size: number;
  subcategories: number[];
  pinned: ThreadRow[];
  page: ThreadRow[];
}

/** A thread list page in ONE statement: the category's subtree, its subcategories, the pinned threads and the page. */
export async function listPage(c: Queryable, q: ListQuery): Promise<ListPageRows> {
  const filter = LIST_FILTER[q.list];
  const visible = visibleSql('$2', q.viewer?.isStaff ?? false);
  const sql = `
      WITH RECURSIVE tree AS (
        SELECT id FROM categories WHERE id = $1 AND special_role IS DISTINCT FROM 'private_threads'
        UNION ALL SELECT c.id FROM categories c JOIN tree ON c.parent_id = tree.id
      ),
      pinned AS (
        SELECT ${THREAD_COLUMNS} ${threadJoins('$2')}
        WHERE $3::int IS NULL AND t.weight > 0 AND t.category_id IN (SELECT id FROM tree) AND ${visible} AND ${filter}
        ORDER BY t.weight DESC, t.last_post_id DESC LIMIT 50
      ),
      page AS (
        SELECT ${THREAD_COLUMNS} ${threadJoins('$2')}
        WHERE t.weight = 0 AND t.category_id IN (SELECT id FROM tree) AND ${visible} AND ${filter}
          AND ($3::int IS NULL OR t.last_post_id <= $3::int)
        ORDER BY t.last_post_id DESC LIMIT ${RULES.threadsPerPage + 1}
      )
      SELECT (SELECT count(*) FROM tree) AS tree_size,
             (SELECT coalesce(json_agg(id ORDER BY id), '[]'::json) FROM categories WHERE parent_id = $1) AS subcategories,
             (SELECT coalesce(json_agg(pinned ORDER BY pinned.weight DESC, pinned.last_post_id DESC), '[]'::json) FROM pinned) AS pinned,
             (SELECT coalesce(json_agg(page ORDER BY page.last_post_id DESC), '[]'::json) FROM page) AS page`;
  const { rows } = await c.query<ListPageRows>(sql, [q.category, q.viewer?.id ?? 0, q.start]);
  return rows[0];
}

/** A thread (null: none) and one page of its posts, in ONE statement. */
export async function threadWithPosts(c: Queryable, id: number, viewerId: number, page: number): Promise<{ thread: ThreadRow | null; posts: PostRow[] }> {
  const { rows } = await c.query<{ thread: ThreadRow | null; posts: PostRow[] }>(
    `SELECT (SELECT row_to_json(x) FROM (SELECT ${THREAD_COLUMNS} ${threadJoins('$2')} WHERE t.id = $1) x) AS thread,
              (SELECT coalesce(json_agg(y ORDER BY y.id), '[]'::json) FROM (
                 SELECT ${POST_COLUMNS} FROM posts p LEFT JOIN users u ON u.id = p.poster_id
                 WHERE p.thread_id = $1 ORDER BY p.id LIMIT ${RULES.postsPerPage} OFFSET $3) y) AS posts`,
    [id, viewerId, (page - 1) * RULES.postsPerPage],
  );
  return rows[0];
}

export interface EditorCategoryRow {
  id: number;
  name: string;
  level: number;
  is_closed: boolean;
}

/** The categories a thread may be started in (not the root, not private threads). */
export async function postableCategories(c: Queryable): Promise<EditorCategoryRow[]> {
  const { rows } = await c.query<EditorCategoryRow>(`SELECT id, name, level, is_closed FROM categories WHERE special_role IS NULL ORDER BY level, id`);
  return rows;
}

export interface NewThread {
  category: number;
  title: string;
  slug: string;
  starter: { id: number; username: string; slug: string; isStaff: boolean };
  weight: number;
  close: boolean;
  hide: boolean;
  source: string;
  parsed: string;
}

/** thread_id and post_id null: nothing was written (no such category, or a closed one and not staff). */
export interface InsertedThread {
  category_ok: boolean;
  category_closed: boolean | null;
  thread_id: number | null;
  post_id: number | null;
}

/** ONE statement: ids drawn up front so the thread row carries its first/last post ids from the start. */
export async function insertThread(c: Queryable, t: NewThread): Promise<InsertedThread> {
  const { rows } = await c.query<InsertedThread>(
    `WITH c AS (SELECT id, is_closed FROM categories WHERE id = $1 AND special_role IS NULL),
         ids AS (SELECT nextval('threads_id_seq')::int AS tid, nextval('posts_id_seq')::int AS pid),
         t AS (INSERT INTO threads (id, category_id, title, slug, starter_id, starter_name, starter_slug, last_poster_id,
                 last_poster_name, last_poster_slug, weight, is_closed, is_hidden, first_post_id, last_post_id)
               SELECT ids.tid, c.id, $2, $3, $4, $5, $6, $4, $5, $6, $7, $8, $9, ids.pid, ids.pid FROM c, ids
               WHERE NOT c.is_closed OR $10::boolean RETURNING id),
         p AS (INSERT INTO posts (id, thread_id, category_id, poster_id, poster_name, original, parsed)
               SELECT ids.pid, t.id, $1, $4, $5, $11, $12 FROM t, ids RETURNING id),
         r AS (INSERT INTO thread_reads (user_id, thread_id, last_read_post_id) SELECT $4, t.id, ids.pid FROM t, ids RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM c) AS category_ok, (SELECT is_closed FROM c) AS category_closed,
                (SELECT id FROM t) AS thread_id, (SELECT id FROM p) + 0 * (SELECT count(*) FROM r) AS post_id`,
    [t.category, t.title, t.slug, t.starter.id, t.starter.username, t.starter.slug, t.weight, t.close, t.hide, t.starter.isStaff, t.source, t.parsed],
  );
  return rows[0];
}

/** The thread as the reply statement found it (null: no such thread). */
export type RepliedThread = { id: number; category_id: number; is_closed: boolean; is_hidden: boolean; starter_id: number | null; slug: string };

/**
 * ONE statement (its own transaction): lock the thread, insert the post if the user may reply (`canSee` and
 * `canReply`, in SQL), bump the thread's counters and last-post fields, move the poster's read marker. One round
 * trip instead of six. `post` null: nothing was written.
 */
export async function insertReply(
  c: Queryable,
  threadId: number,
  poster: { id: number; username: string; slug: string; isStaff: boolean },
  source: string,
  parsed: string,
): Promise<{ thread: RepliedThread | null; post: PostRow | null }> {
  const { rows } = await c.query<{ thread: RepliedThread | null; post: PostRow | null }>(
    `WITH t AS (SELECT id, category_id, is_closed, is_hidden, starter_id, slug FROM threads WHERE id = $1 FOR UPDATE),
         p AS (INSERT INTO posts (thread_id, category_id, poster_id, poster_name, original, parsed)
               SELECT t.id, t.category_id, $2, $3, $5, $6 FROM t
               WHERE (NOT t.is_closed OR $7::boolean) AND ${visibleSql('$2', '$7::boolean')}
               RETURNING id, poster_id, poster_name, $4::text AS poster_slug, parsed, posted_on, updated_on, edits),
         u AS (UPDATE threads SET replies = replies + 1, last_post_id = p.id, last_post_on = p.posted_on, last_poster_id = $2,
                 last_poster_name = $3, last_poster_slug = $4 FROM p WHERE threads.id = $1 RETURNING threads.id),
         r AS (INSERT INTO thread_reads (user_id, thread_id, last_read_post_id) SELECT $2, $1, p.id FROM p
               ON CONFLICT (user_id, thread_id) DO UPDATE
               SET last_read_post_id = GREATEST(thread_reads.last_read_post_id, EXCLUDED.last_read_post_id), last_read_on = now()
               RETURNING 1)
         SELECT (SELECT row_to_json(t) FROM t) AS thread, (SELECT row_to_json(p) FROM p) AS post,
                (SELECT count(*) FROM u) + (SELECT count(*) FROM r) AS written`,
    [threadId, poster.id, poster.username, poster.slug, source, parsed, poster.isStaff],
  );
  return rows[0];
}

/** The post's poster, its row locked for an edit; undefined: no such post in this thread. */
export async function lockPost(c: Queryable, postId: number, threadId: number): Promise<{ poster_id: number | null } | undefined> {
  const { rows } = await c.query<{ poster_id: number | null }>('SELECT poster_id FROM posts WHERE id = $1 AND thread_id = $2 FOR UPDATE', [postId, threadId]);
  return rows[0];
}

export async function updatePost(c: Queryable, postId: number, source: string, parsed: string): Promise<PostRow> {
  const { rows } = await c.query<PostRow>(
    `UPDATE posts p SET original = $2, parsed = $3, updated_on = now(), edits = edits + 1 FROM (SELECT 1) x
         WHERE p.id = $1 RETURNING p.id, p.poster_id, p.poster_name, (SELECT slug FROM users WHERE id = p.poster_id) AS poster_slug,
           (SELECT posts FROM users WHERE id = p.poster_id) AS poster_posts, p.parsed, p.posted_on, p.updated_on, p.edits`,
    [postId, source, parsed],
  );
  return rows[0];
}

export async function postInThread(c: Queryable, postId: number, threadId: number): Promise<boolean> {
  const { rows } = await c.query('SELECT 1 FROM posts WHERE id = $1 AND thread_id = $2', [postId, threadId]);
  return rows.length > 0;
}

/** Moves the user's read marker of the thread forward to `postId` (never back). */
export async function markRead(c: Queryable, userId: number, threadId: number, postId: number): Promise<void> {
  await c.query(
    `INSERT INTO thread_reads (user_id, thread_id, last_read_post_id, last_read_on) VALUES ($1, $2, $3, now())
     ON CONFLICT (user_id, thread_id) DO UPDATE SET last_read_post_id = GREATEST(thread_reads.last_read_post_id, EXCLUDED.last_read_post_id),
       last_read_on = now()`,
    [userId, threadId, postId],
  );
}

export async function deleteThread(c: Queryable, id: number): Promise<void> {
  await c.query('DELETE FROM threads WHERE id = $1', [id]);
}

/** `email` false: notify in-app. */
export async function subscribe(c: Queryable, userId: number, threadId: number, email: boolean): Promise<void> {
  await c.query(
    `INSERT INTO subscriptions (user_id, thread_id, send_email) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, thread_id) DO UPDATE SET send_email = EXCLUDED.send_email`,
    [userId, threadId, email],
  );
}

export async function unsubscribe(c: Queryable, userId: number, threadId: number): Promise<void> {
  await c.query('DELETE FROM subscriptions WHERE user_id = $1 AND thread_id = $2', [userId, threadId]);
}

export async function setTitle(c: Queryable, id: number, title: string, slug: string): Promise<void> {
  await c.query('UPDATE threads SET title = $2, slug = $3 WHERE id = $1', [id, title, slug]);
}

export async function setFlag(c: Queryable, id: number, column: 'is_closed' | 'is_hidden', value: boolean): Promise<void> {
  await c.query(`UPDATE threads SET ${column} = $2 WHERE id = $1`, [id, value]);
}

export async function setWeight(c: Queryable, id: number, weight: number): Promise<void> {
  await c.query('UPDATE threads SET weight = $2 WHERE id = $1', [id, weight]);
}
