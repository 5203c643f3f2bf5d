import { fieldErrors } from '@forum/shared';
import type { Ctx } from '../context.js';
import { postHoldingFloodSlot } from '../flood.js';
import { slugify } from '../forum-rules.js';
import { renderPost } from '../render.js';
import type { NewThreadFields } from '../request-validation.js';
import { editorCategoryJson, threadUrl } from '../serializers.js';
import type { SessionUser } from '../session.js';
import { insertThread, postableCategories } from '../thread-store.js';

/** Misago's start-thread editor: the categories and what `user` may do with a new thread in each. */
export async function startThreadEditor(ctx: Ctx, user: SessionUser) {
  return (await postableCategories(ctx.db.rw)).map((c) => editorCategoryJson(c, user));
}

/**
 * A new thread with its first post: rendered, written in one statement under the user's flood slot (a refused
 * category gives the slot back), then its guest pages invalidated and the post's jobs enqueued.
 */
export async function startThread(ctx: Ctx, user: SessionUser, f: NewThreadFields): Promise<{ id: number; title: string; url: string }> {
  const parsed = renderPost(f.source);
  const slug = slugify(f.title);
  const row = await postHoldingFloodSlot(
    ctx.flood,
    user.id,
    () => insertThread(ctx.db.rw, { ...f, slug, parsed, starter: user }),
    (r) => r.thread_id !== null && r.post_id !== null,
  );
  if (row.thread_id === null || row.post_id === null) {
    if (!row.category_ok) throw fieldErrors({ category: ['Requested category could not be found.'] }, 'category_not_found');
    throw fieldErrors({ category: ["This category is closed. You can't start new threads in it."] }, 'category_closed');
  }
  await ctx.bus.publish(row.thread_id);
  await ctx.enqueue({ type: 'post_created', postId: row.post_id });
  return { id: row.thread_id, title: f.title, url: threadUrl({ slug, id: row.thread_id }) };
}
