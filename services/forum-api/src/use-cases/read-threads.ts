import { notFound } from '@forum/shared';
import type { Ctx } from '../context.js';
import { isFailoverError, type Queryable } from '../db.js';
import { canSee, RULES, type Viewer } from '../forum-rules.js';
import { categoryPath, postJson, threadIsRead, threadJson, type CategoryTree } from '../serializers.js';
import type { SessionUser } from '../session.js';
import { findThread, listPage, markRead, postInThread, threadWithPosts, type ListQuery, type ThreadRow } from '../thread-store.js';

/** Reading threads: lists, a thread, a page of its posts, and the read marker that reading moves. */

export const threadNotFound = () => notFound('No Thread matches the given query.');
export const postNotFound = () => notFound('No Post matches the given query.');

/** The viewer's reads go to the primary (they must see their own writes); guests' reads may be balanced. */
export const reader = (ctx: Ctx, viewer?: SessionUser) => (viewer ? ctx.db.rw : ctx.db.ro);

/** The thread if `viewer` may see it, else 404 (a hidden thread does not exist for others); `lock` for a write. */
export async function visibleThread(c: Queryable, id: number, viewer: Viewer | undefined, lock = false): Promise<ThreadRow> {
  const t = await findThread(c, id, viewer?.id ?? 0, lock);
  if (!t || !canSee(t, viewer)) throw threadNotFound();
  return t;
}

/** A thread list page: pinned threads (first page only), then threads by last post, and the cursor of the next page. */
export async function threadList(ctx: Ctx, viewer: SessionUser | undefined, q: Omit<ListQuery, 'viewer'>) {
  const row = await listPage(reader(ctx, viewer), { ...q, viewer });
  if (row.tree_size === 0) throw notFound('No Category matches the given query.');
  const regular = row.page.slice(0, RULES.threadsPerPage);
  const next = row.page.length > RULES.threadsPerPage ? row.page[RULES.threadsPerPage].last_post_id : null;
  return { results: [...row.pinned, ...regular].map((t) => threadJson(t, viewer)), subcategories: row.subcategories, next };
}

/** The thread object with its category and path. */
export async function threadPage(ctx: Ctx, viewer: SessionUser | undefined, id: number) {
  const tree = ctx.categories.tree();
  const t = await visibleThread(reader(ctx, viewer), id, viewer);
  return threadJson(t, viewer, await threadCategory(ctx, tree, t));
}

/** Posts of a thread, RULES.postsPerPage per page, in one statement; a signed-in viewer's read marker moves to the page's last post. */
export async function postsPage(ctx: Ctx, viewer: SessionUser | undefined, id: number, page: number) {
  const tree = ctx.categories.tree();
  const { thread: t, posts } = await threadWithPosts(reader(ctx, viewer), id, viewer?.id ?? 0, page);
  if (!t || !canSee(t, viewer)) throw threadNotFound();
  const count = t.replies + 1;
  const pages = Math.max(1, Math.ceil(count / RULES.postsPerPage));
  if (page > pages) throw notFound('Invalid page.');
  if (viewer && posts.length) await moveReadMarker(ctx, viewer, t, posts[posts.length - 1].id);
  return {
    ...threadJson(t, viewer, await threadCategory(ctx, tree, t)),
    post_set: {
      results: posts.map((p) => postJson(p, t, viewer)),
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
}

/**
 * The read marker is a side effect of reading: while the primary fails over the page is still answered (from a
 * standby) and the marker moves at the next page view (markers never go back).
 */
async function moveReadMarker(ctx: Ctx, viewer: SessionUser, t: ThreadRow, lastShown: number): Promise<void> {
  if ((t.last_read_post_id ?? 0) >= lastShown || ctx.db.primaryDown()) return;
  await markRead(ctx.db.rw, viewer.id, t.id, lastShown).catch((err: unknown) => {
    if (!isFailoverError(err)) throw err;
  });
}

/** Marks the thread read up to `postId`; whether the whole thread is read now. */
export async function markPostRead(ctx: Ctx, user: SessionUser, threadId: number, postId: number): Promise<boolean> {
  return ctx.db.tx(async (c) => {
    const t = await visibleThread(c, threadId, user);
    if (!(await postInThread(c, postId, threadId))) throw postNotFound();
    await markRead(c, user.id, threadId, postId);
    return threadIsRead({ ...t, last_read_post_id: Math.max(t.last_read_post_id ?? 0, postId) }, user);
  });
}

/** The thread's category object and path from the cached tree; a category newer than the tree reads it again. */
async function threadCategory(ctx: Ctx, tree: Promise<CategoryTree>, t: ThreadRow) {
  let path = categoryPath(await tree, t.category_id);
  if (!path.length) path = categoryPath(await ctx.categories.refresh(), t.category_id);
  const category = path[path.length - 1];
  return category ? { category, path } : undefined;
}
