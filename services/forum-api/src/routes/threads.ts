import { Router, type Response } from 'express';
import { AppError, asyncHandler, fieldErrors, forbidden, notFound } from '@forum/shared';
import type { Ctx } from '../context.js';
import { isFailoverError, type Queryable } from '../db.js';
import { within } from '../redis.js';
import type { CategoryTree } from '../serializers.js';
import {
  attachments,
  body,
  categoryId,
  check,
  flag,
  normalizeTitle,
  parseCategoryQuery,
  parseId,
  pinWeight,
  RULES,
  slugify,
  titleProblem,
  validatePost,
  validateTitle,
} from '../domain.js';
import { DrfInvalid, drfBoolean, drfInteger, FieldErrors, queryIntOr404 } from '../drf.js';
import type { Refresh, Ticket } from '../cache.js';
import { renderPost } from '../render.js';
import {
  categoryPath,
  postJson,
  threadAcl,
  THREAD_COLUMNS,
  threadIsRead,
  threadJoins,
  threadJson,
  threadUrl,
  type PostRow,
  type ThreadRow,
} from '../serializers.js';
import { currentUser, requireUser, type SessionUser } from '../session.js';

const LISTS = ['all', 'my', 'new', 'unread', 'subscribed'] as const;
type ListName = (typeof LISTS)[number];
const LIST_FILTER: Record<ListName, string> = {
  all: 'true',
  my: 't.starter_id = $2',
  new: 'tr.user_id IS NULL',
  unread: 'tr.user_id IS NOT NULL AND t.last_post_id > tr.last_read_post_id',
  subscribed: 's.user_id IS NOT NULL',
};
const PRIVATE_CATEGORY = 1;
const ROOT_CATEGORY = 2;

/** The viewer's reads go to the primary (they must see their own writes); guests' reads may be balanced. */
const reader = (ctx: Ctx, viewer?: SessionUser) => (viewer ? ctx.db.rw : ctx.db.ro);
const threadNotFound = () => notFound('No Thread matches the given query.');

async function loadThread(c: Queryable, id: number, viewer: SessionUser | undefined, lock = false): Promise<ThreadRow> {
  const { rows } = await c.query<ThreadRow>(`SELECT ${THREAD_COLUMNS} ${threadJoins('$2')} WHERE t.id = $1${lock ? ' FOR UPDATE OF t' : ''}`, [
    id,
    viewer?.id ?? 0,
  ]);
  const t = rows[0];
  if (!t || (t.is_hidden && !viewer?.isStaff && viewer?.id !== t.starter_id)) throw threadNotFound();
  return t;
}

/**
 * Misago's flood protection: one post per user per FLOOD_INTERVAL_MS (the caller gives the slot back if nothing was
 * posted). It fails OPEN: while Redis fails over (no answer in 500 ms) the post goes through unthrottled for those
 * seconds rather than writes pausing; flooding is a nuisance, not a security boundary (login brute force fails closed).
 */
async function floodCheck(ctx: Ctx, user: SessionUser): Promise<void> {
  if (ctx.cfg.FLOOD_INTERVAL_MS <= 0) return;
  let ok: string | null;
  try {
    ok = await within(ctx.redis.set(`flood:${user.id}`, '1', 'PX', ctx.cfg.FLOOD_INTERVAL_MS, 'NX'), 500);
  } catch (err) {
    ctx.logger.warn({ err: (err as Error).message }, 'flood check skipped: Redis unavailable');
    return;
  }
  // Misago answers 403 (PermissionDenied), not 429; `code: flood` tells it from other refusals
  if (ok !== 'OK') throw new AppError('flood', 403, "You can't post message so quickly after previous one.");
}

/** Gives the flood slot back (nothing was posted); never waits on a failing Redis. */
const releaseFlood = (ctx: Ctx, user: SessionUser) => within(ctx.redis.del(`flood:${user.id}`), 500).catch(() => undefined);

async function markRead(c: Queryable, user: SessionUser, threadId: number, postId: number): Promise<void> {
  await c.query(
    `INSERT INTO thread_reads (user_id, thread_id, last_read_post_id, last_read_on) VALUES ($1, $2, $3, now())
     ON CONFLICT (user_id, thread_id) DO UPDATE SET last_read_post_id = GREATEST(thread_reads.last_read_post_id, EXCLUDED.last_read_post_id),
       last_read_on = now()`,
    [user.id, threadId, postId],
  );
}

function ensureCanReply(t: ThreadRow, user: SessionUser): void {
  if (t.is_closed && !user.isStaff) throw forbidden("This thread is closed. You can't reply to it.");
}

/** Sends pre-serialized JSON (from the guest micro-cache or just built for it). */
function sendBody(res: Response, body: Buffer): void {
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

/** Where a guest page lives in the cache. */
interface Slot {
  flightKey: string;
  get(): Buffer | undefined;
  set(body: Buffer, t: Ticket, refresh: Refresh): void;
  /** true while nothing invalidated the page since the ticket was taken */
  unchanged(t: Ticket): boolean;
}
const threadSlot = (ctx: Ctx, id: number, key: string): Slot => ({
  flightKey: `t|${id}|${key}`,
  get: () => ctx.cache.getThread(id, key),
  set: (b, t, refresh) => ctx.cache.setThread(id, key, b, t, refresh),
  unchanged: (t) => ctx.cache.threadUnchanged(id, t),
});
const listSlot = (ctx: Ctx, key: string): Slot => ({
  flightKey: `l|${key}`,
  get: () => ctx.cache.getList(key),
  set: (b, t, refresh) => ctx.cache.setList(key, b, t, refresh),
  unchanged: (t) => ctx.cache.listsUnchanged(t),
});

/**
 * The guest body of a page through one shared build: a guest arriving after an invalidation never joins a build
 * that began before it; the body is stored unless the page was invalidated while it was being built (the ticket),
 * with this same build as its refresh-ahead.
 */
function guestBuild(ctx: Ctx, slot: Slot, build: () => Promise<unknown>): Promise<Buffer> {
  const inFlight = ctx.cache.flights;
  const current = inFlight.get(slot.flightKey);
  if (current && slot.unchanged(current.ticket)) return current.body;
  const ticket = ctx.cache.ticket();
  const body = build().then((page) => {
    const b = Buffer.from(JSON.stringify(page));
    slot.set(b, ticket, () => {
      guestBuild(ctx, slot, build).catch((err: Error) => ctx.logger.warn({ err: err.message, page: slot.flightKey }, 'page refresh failed'));
    });
    return b;
  });
  const f = { ticket, body };
  inFlight.set(slot.flightKey, f);
  const done = () => {
    if (inFlight.get(slot.flightKey) === f) inFlight.delete(slot.flightKey);
  };
  body.then(done, done);
  return body;
}

/** Guests get the cached body when fresh, else the shared build's; signed-in users are never cached. */
async function cached(ctx: Ctx, res: Response, viewer: SessionUser | undefined, slot: Slot, build: () => Promise<unknown>): Promise<void> {
  if (viewer) {
    res.json(await build());
    return;
  }
  const hit = slot.get();
  if (hit) return sendBody(res, hit);
  sendBody(res, await guestBuild(ctx, slot, build));
}

const POST_COLUMNS = 'p.id, p.poster_id, p.poster_name, u.slug AS poster_slug, u.posts AS poster_posts, p.parsed, p.posted_on, p.updated_on, p.edits';

/** The body of a reply or an edit: `post` (and `attachments`), DRF's field lists otherwise. */
function postBody(raw: unknown): string {
  const b = body(raw);
  const e = new FieldErrors();
  const source = validatePost(e, b);
  attachments(e, b);
  check(e);
  return source as string;
}

/** Misago's PATCH refusal: 400 `{id, detail: [reason]}`. */
const patchError = (id: number, reason: string) => new AppError('invalid_patch', 400, reason, true, { body: { id, detail: [reason] } });

const PATCH_OPS = new Set(['add', 'remove', 'replace']);

/** Misago's ApiPatch.validate_action: op, path and (but for remove) value must be there. */
function patchOperation(id: number, raw: unknown): { op: string; path: string; value: unknown } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw patchError(id, 'Each operation must be an object.');
  const o = raw as { op?: unknown; path?: unknown; value?: unknown };
  if (!o.op) throw patchError(id, 'undefined op');
  if (typeof o.op !== 'string' || !PATCH_OPS.has(o.op)) throw patchError(id, `"${String(o.op).slice(0, 40)}" op is unsupported`);
  if (typeof o.path !== 'string' || !o.path) throw patchError(id, `"${o.op}" op has to specify path`);
  if (o.op !== 'remove' && !('value' in o)) throw patchError(id, `"${o.op}" op has to specify value`);
  return { op: o.op, path: o.path, value: o.value };
}

/** A PATCH value through a DRF parser; its message becomes the refusal. */
function patchValue<T>(id: number, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof DrfInvalid) throw patchError(id, err.message);
    throw err;
  }
}

/** The thread's category object and path from the cached tree; a category newer than the tree reads it again. */
async function threadCategory(ctx: Ctx, tree: Promise<CategoryTree>, t: ThreadRow) {
  let path = categoryPath(await tree, t.category_id);
  if (!path.length) path = categoryPath(await ctx.categories.refresh(), t.category_id);
  const category = path[path.length - 1];
  return category ? { category, path } : undefined;
}

/** Misago's start-thread editor entry: `post` is false, or what the user may do with a new thread there. */
function editorCategoryJson(c: { id: number; name: string; level: number; is_closed: boolean }, user: SessionUser) {
  const staff = user.isStaff;
  const post = !c.is_closed || staff ? { close: staff, hide: staff, pin: staff ? 2 : 0 } : false;
  return { id: c.id, name: c.name, level: c.level, post, close: staff, hide: staff, pin: staff ? 2 : 0 };
}

export function threadsRouter(ctx: Ctx): Router {
  const r = Router();

  // Thread lists: ONE statement per page (category tree, subcategories, pinned + page with the viewer's read/subscription state).
  r.get(
    '/api/threads/',
    asyncHandler(async (req, res) => {
      const viewer = currentUser(res);
      const listRaw = req.query.list ?? 'all';
      // Misago resolves the list name and `start` like a URL: an unknown one is "not found"
      if (typeof listRaw !== 'string' || !(LISTS as readonly string[]).includes(listRaw)) throw notFound(`No such list: "list" is one of ${LISTS.join(', ')}.`);
      const list = listRaw as ListName;
      const startRaw = queryIntOr404(req.query.start, 0);
      if (startRaw === null) throw notFound('Invalid "start": a thread list cursor is a non-negative integer.');
      // start=0 and no start are both the first page (Misago's default); a cursor is the last_post_id to continue from
      const start = startRaw === 0 ? null : startRaw;
      if (list !== 'all' && !viewer) throw new AppError('not_authenticated', 403, 'You have to sign in to see this list.');
      const category = parseCategoryQuery(req.query.category, ROOT_CATEGORY);
      if (category === PRIVATE_CATEGORY) throw notFound('No Category matches the given query.');
      const cacheKey = `${category}|${list}|${start}`;
      await cached(ctx, res, viewer, listSlot(ctx, cacheKey), async () => {
        const filter = LIST_FILTER[list];
        const visible = viewer?.isStaff ? 'true' : `(NOT t.is_hidden OR t.starter_id = $2)`;
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
        const { rows } = await reader(ctx, viewer).query<{ tree_size: number; subcategories: number[]; pinned: ThreadRow[]; page: ThreadRow[] }>(sql, [
          category,
          viewer?.id ?? 0,
          start,
        ]);
        const row = rows[0];
        if (row.tree_size === 0) throw notFound('No Category matches the given query.');
        const regular = row.page.slice(0, RULES.threadsPerPage);
        const next = row.page.length > RULES.threadsPerPage ? row.page[RULES.threadsPerPage].last_post_id : null;
        return { results: [...row.pinned, ...regular].map((t) => threadJson(t, viewer)), subcategories: row.subcategories, next };
      });
    }),
  );

  r.get(
    '/api/threads/editor/',
    asyncHandler(async (_req, res) => {
      const user = requireUser(res, 'You need to be signed in to start threads.');
      const { rows } = await ctx.db.rw.query<{ id: number; name: string; level: number; is_closed: boolean }>(
        `SELECT id, name, level, is_closed FROM categories WHERE special_role IS NULL ORDER BY level, id`,
      );
      res.json(rows.map((c) => editorCategoryJson(c, user)));
    }),
  );

  r.post(
    '/api/threads/',
    asyncHandler(async (req, res) => {
      const user = requireUser(res, 'You need to be signed in to start threads.');
      const b = body(req.body);
      const e = new FieldErrors();
      const title = validateTitle(e, b);
      const source = validatePost(e, b);
      const category = categoryId(e, b);
      attachments(e, b);
      // as Misago's posting middlewares: close/hide/pin exist only for users who may use them, others' are ignored
      const close = user.isStaff ? flag(e, b, 'close') : false;
      const hide = user.isStaff ? flag(e, b, 'hide') : false;
      const weight = user.isStaff ? pinWeight(e, b) : 0;
      check(e);
      if (title === undefined || source === undefined || category === undefined) throw new Error('validated fields missing');
      const parsed = renderPost(source);
      const slug = slugify(title);
      await floodCheck(ctx, user);
      // ONE statement: ids drawn up front so the thread row carries its first/last post ids from the start
      let row: { category_ok: boolean; category_closed: boolean | null; thread_id: number | null; post_id: number | null };
      try {
        const { rows } = await ctx.db.rw.query<typeof row>(
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
          [category, title, slug, user.id, user.username, user.slug, weight, close, hide, user.isStaff, source, parsed],
        );
        row = rows[0];
      } catch (err) {
        await releaseFlood(ctx, user);
        throw err;
      }
      if (row.thread_id === null || row.post_id === null) {
        await releaseFlood(ctx, user);
        if (!row.category_ok) throw fieldErrors({ category: ['Requested category could not be found.'] }, 'category_not_found');
        throw fieldErrors({ category: ["This category is closed. You can't start new threads in it."] }, 'category_closed');
      }
      const thread = { id: row.thread_id, postId: row.post_id };
      await ctx.bus.publish(thread.id);
      await ctx.enqueue({ type: 'post_created', postId: thread.postId });
      res.json({ id: thread.id, title, url: threadUrl({ slug, id: thread.id }) });
    }),
  );

  r.get(
    '/api/threads/:id/',
    asyncHandler(async (req, res) => {
      const viewer = currentUser(res);
      const id = parseId(req.params.id, 'No Thread matches the given query.');
      await cached(ctx, res, viewer, threadSlot(ctx, id, 'thread'), async () => {
        const tree = ctx.categories.tree();
        const t = await loadThread(reader(ctx, viewer), id, viewer);
        return threadJson(t, viewer, await threadCategory(ctx, tree, t));
      });
    }),
  );

  // Misago's ApiPatch: a list of {op, path, value}; "ok" per applied operation, an unknown path is skipped ("ok"),
  // a refused one answers 400 {id, detail: [reason]}. Here the list is applied atomically (Misago commits each
  // operation on its own), so a refusal leaves nothing of the request applied.
  r.patch(
    '/api/threads/:id/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, 'No Thread matches the given query.');
      const user = requireUser(res);
      const ops = req.body as unknown;
      if (!Array.isArray(ops)) throw new AppError('invalid_patch', 400, 'PATCH request should be a list of operations.');
      if (ops.length > 10) throw patchError(id, 'PATCH request should contain at most 10 operations.');
      const out: Record<string, unknown> = { id };
      const detail: string[] = [];
      let categoryChanged = false;
      let categoryId = 0;
      await ctx.db.tx(async (c) => {
        const t = await loadThread(c, id, user, true);
        categoryId = t.category_id;
        const acl = threadAcl(t, user);
        const refuse = (allowed: boolean, reason: string) => {
          if (!allowed) throw patchError(id, reason);
        };
        for (const raw of ops) {
          const op = patchOperation(id, raw);
          switch (op.path) {
            case 'subscription': {
              const v = op.op === 'remove' ? null : op.value;
              if (v === 'notify' || v === 'email') {
                await c.query(
                  `INSERT INTO subscriptions (user_id, thread_id, send_email) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, thread_id) DO UPDATE SET send_email = EXCLUDED.send_email`,
                  [user.id, id, v === 'email'],
                );
                out.subscription = v === 'email';
              } else if (v === null || v === 'unsubscribe') {
                await c.query('DELETE FROM subscriptions WHERE user_id = $1 AND thread_id = $2', [user.id, id]);
                out.subscription = null;
              } else throw patchError(id, '"subscription" must be "notify", "email" or null.');
              break;
            }
            case 'title': {
              refuse(user.isStaff || user.id === t.starter_id, "You can't edit threads in this category.");
              refuse(typeof op.value === 'string' || typeof op.value === 'number', 'Not a valid string.');
              const title = normalizeTitle(String(op.value));
              const problem = titleProblem(title);
              if (problem) throw patchError(id, problem.message);
              await c.query('UPDATE threads SET title = $2, slug = $3 WHERE id = $1', [id, title, slugify(title)]);
              out.title = title;
              categoryChanged = true;
              break;
            }
            case 'is-closed':
            case 'is-hidden': {
              const closing = op.path === 'is-closed';
              refuse(
                closing ? acl.can_close === 1 : acl.can_hide,
                closing ? "You don't have permission to close this thread." : "You don't have permission to hide this thread.",
              );
              const v = patchValue(id, () => drfBoolean(op.value) as boolean);
              const col = closing ? 'is_closed' : 'is_hidden';
              await c.query(`UPDATE threads SET ${col} = $2 WHERE id = $1`, [id, v]);
              out[col] = v;
              if (!closing) categoryChanged = true;
              break;
            }
            case 'weight': {
              refuse(acl.can_pin, "You don't have permission to change this thread's weight.");
              const v = patchValue(id, () => drfInteger(op.value, { min: 0, max: 2 }) as number);
              await c.query('UPDATE threads SET weight = $2 WHERE id = $1', [id, v]);
              out.weight = v;
              break;
            }
            default:
              // Misago has no handler for it and moves on
              break;
          }
          detail.push('ok');
        }
      });
      if (detail.length) {
        await ctx.bus.publish(id);
        if (categoryChanged) await ctx.enqueue({ type: 'category_sync', categoryId });
      }
      res.json({ ...out, detail });
    }),
  );

  r.delete(
    '/api/threads/:id/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, 'No Thread matches the given query.');
      const user = requireUser(res);
      const categoryId = await ctx.db.tx(async (c) => {
        const t = await loadThread(c, id, user, true);
        if (!user.isStaff && !(user.id === t.starter_id && t.replies === 0)) throw forbidden("You can't delete this thread.");
        await c.query('DELETE FROM threads WHERE id = $1', [id]);
        return t.category_id;
      });
      await ctx.bus.publish(id);
      await ctx.enqueue({ type: 'category_sync', categoryId });
      res.json({});
    }),
  );

  // Posts of a thread, 18 per page, in one statement; a signed-in viewer's read marker moves to the page's last post.
  r.get(
    '/api/threads/:id/posts/',
    asyncHandler(async (req, res) => {
      const viewer = currentUser(res);
      const id = parseId(req.params.id, 'No Thread matches the given query.');
      // Misago: page 0 (or none) is the first page; anything but digits is "not found"
      const pageRaw = queryIntOr404(req.query.page, 1);
      if (pageRaw === null) throw notFound('Invalid page.');
      const page = Math.max(1, pageRaw);
      const key = `posts:${page}`;
      await cached(ctx, res, viewer, threadSlot(ctx, id, key), async () => {
        const db = reader(ctx, viewer);
        const tree = ctx.categories.tree();
        const { rows } = await db.query<{ thread: ThreadRow | null; posts: PostRow[] }>(
          `SELECT (SELECT row_to_json(x) FROM (SELECT ${THREAD_COLUMNS} ${threadJoins('$2')} WHERE t.id = $1) x) AS thread,
              (SELECT coalesce(json_agg(y ORDER BY y.id), '[]'::json) FROM (
                 SELECT ${POST_COLUMNS} FROM posts p LEFT JOIN users u ON u.id = p.poster_id
                 WHERE p.thread_id = $1 ORDER BY p.id LIMIT ${RULES.postsPerPage} OFFSET $3) y) AS posts`,
          [id, viewer?.id ?? 0, (page - 1) * RULES.postsPerPage],
        );
        const t = rows[0].thread;
        if (!t || (t.is_hidden && !viewer?.isStaff && viewer?.id !== t.starter_id)) throw threadNotFound();
        const count = t.replies + 1;
        const pages = Math.max(1, Math.ceil(count / RULES.postsPerPage));
        if (page > pages) throw notFound('Invalid page.');
        const posts = rows[0].posts.map((p) => postJson(p, t, viewer));
        if (viewer && rows[0].posts.length) {
          const lastShown = rows[0].posts[rows[0].posts.length - 1].id;
          // the read marker is a side effect of reading: while the primary fails over the page is still answered (from a
          // standby) and the marker moves at the next page view (markers never go back)
          if ((t.last_read_post_id ?? 0) < lastShown && !ctx.db.primaryDown())
            await markRead(ctx.db.rw, viewer, id, lastShown).catch((err: unknown) => {
              if (!isFailoverError(err)) throw err;
            });
        }
        return {
          ...threadJson(t, viewer, await threadCategory(ctx, tree, t)),
          post_set: {
            results: posts,
            page,
            pages,
            count,
            first: page > 1 ? 1 : null,
            previous: page > 1 ? page - 1 : null,
            next: page < pages ? page + 1 : null,
            last: page < pages ? pages : null,
            before: (page - 1) * RULES.postsPerPage,
            more: Math.max(0, count - page * RULES.postsPerPage),
          },
        };
      });
    }),
  );

  r.post(
    '/api/threads/:id/posts/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, 'No Thread matches the given query.');
      const user = requireUser(res, 'You have to sign in to reply threads.');
      const source = postBody(req.body);
      const parsed = renderPost(source);
      await floodCheck(ctx, user);
      // ONE statement (its own transaction): lock the thread, insert the post if the user may reply, bump the thread's
      // counters and last-post fields, move the poster's read marker. One round trip instead of six.
      type Locked = { id: number; category_id: number; is_closed: boolean; is_hidden: boolean; starter_id: number | null; slug: string };
      let result: { thread: Locked | null; post: PostRow | null };
      try {
        const { rows } = await ctx.db.rw.query<{ thread: Locked | null; post: PostRow | null }>(
          `WITH t AS (SELECT id, category_id, is_closed, is_hidden, starter_id, slug FROM threads WHERE id = $1 FOR UPDATE),
         p AS (INSERT INTO posts (thread_id, category_id, poster_id, poster_name, original, parsed)
               SELECT t.id, t.category_id, $2, $3, $5, $6 FROM t
               WHERE (NOT t.is_closed OR $7::boolean) AND (NOT t.is_hidden OR $7::boolean OR t.starter_id = $2)
               RETURNING id, poster_id, poster_name, $4::text AS poster_slug, parsed, posted_on, updated_on, edits),
         u AS (UPDATE threads SET replies = replies + 1, last_post_id = p.id, last_post_on = p.posted_on, last_poster_id = $2,
                 last_poster_name = $3, last_poster_slug = $4 FROM p WHERE threads.id = $1 RETURNING threads.id),
         r AS (INSERT INTO thread_reads (user_id, thread_id, last_read_post_id) SELECT $2, $1, p.id FROM p
               ON CONFLICT (user_id, thread_id) DO UPDATE
               SET last_read_post_id = GREATEST(thread_reads.last_read_post_id, EXCLUDED.last_read_post_id), last_read_on = now()
               RETURNING 1)
         SELECT (SELECT row_to_json(t) FROM t) AS thread, (SELECT row_to_json(p) FROM p) AS post,
                (SELECT count(*) FROM u) + (SELECT count(*) FROM r) AS written`,
          [id, user.id, user.username, user.slug, source, parsed, user.isStaff],
        );
        result = rows[0];
      } catch (err) {
        await releaseFlood(ctx, user);
        throw err;
      }
      const { thread: locked, post } = result;
      if (!post) {
        // nothing was written: give the flood slot back and say why
        await releaseFlood(ctx, user);
        if (!locked || (locked.is_hidden && !user.isStaff && locked.starter_id !== user.id)) throw threadNotFound();
        throw forbidden("This thread is closed. You can't reply to it.");
      }
      const thread = { id, slug: locked!.slug, is_closed: locked!.is_closed, last_read_post_id: post.id };
      await ctx.bus.publish(id);
      await ctx.enqueue({ type: 'post_created', postId: post.id });
      res.json(postJson(post, thread, user));
    }),
  );

  r.get(
    '/api/threads/:id/posts/reply_editor/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, 'No Thread matches the given query.');
      const user = requireUser(res, 'You have to sign in to reply threads.');
      ensureCanReply(await loadThread(ctx.db.rw, id, user), user);
      res.json({});
    }),
  );

  r.put(
    '/api/threads/:id/posts/:pid/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, 'No Thread matches the given query.');
      const pid = parseId(req.params.pid, 'No Post matches the given query.');
      const user = requireUser(res, 'You have to sign in to edit posts.');
      const source = postBody(req.body);
      const parsed = renderPost(source);
      const result = await ctx.db.tx(async (c) => {
        const t = await loadThread(c, id, user);
        const { rows } = await c.query<{ poster_id: number | null }>('SELECT poster_id FROM posts WHERE id = $1 AND thread_id = $2 FOR UPDATE', [pid, id]);
        if (!rows[0]) throw notFound('No Post matches the given query.');
        if (!user.isStaff && rows[0].poster_id !== user.id) throw forbidden("You can't edit other users posts.");
        if (t.is_closed && !user.isStaff) throw forbidden("This thread is closed. You can't edit posts in it.");
        const up = await c.query<PostRow>(
          `UPDATE posts p SET original = $2, parsed = $3, updated_on = now(), edits = edits + 1 FROM (SELECT 1) x
         WHERE p.id = $1 RETURNING p.id, p.poster_id, p.poster_name, (SELECT slug FROM users WHERE id = p.poster_id) AS poster_slug,
           (SELECT posts FROM users WHERE id = p.poster_id) AS poster_posts, p.parsed, p.posted_on, p.updated_on, p.edits`,
          [pid, source, parsed],
        );
        return { post: up.rows[0], thread: t };
      });
      await ctx.bus.publish(id);
      res.json(postJson(result.post, result.thread, user));
    }),
  );

  r.post(
    '/api/threads/:id/posts/:pid/read/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, 'No Thread matches the given query.');
      const pid = parseId(req.params.pid, 'No Post matches the given query.');
      const user = requireUser(res, 'You have to sign in to mark posts as read.');
      const isRead = await ctx.db.tx(async (c) => {
        const t = await loadThread(c, id, user);
        const { rows } = await c.query('SELECT 1 FROM posts WHERE id = $1 AND thread_id = $2', [pid, id]);
        if (!rows[0]) throw notFound('No Post matches the given query.');
        await markRead(c, user, id, pid);
        return threadIsRead({ ...t, last_read_post_id: Math.max(t.last_read_post_id ?? 0, pid) }, user);
      });
      res.json({ thread_is_read: isRead });
    }),
  );

  return r;
}

export type { Response };
