import { forbidden } from '@forum/shared';
import type { Ctx } from '../context.js';
import { postEditRefusal } from '../forum-rules.js';
import { renderPost } from '../render.js';
import { postJson } from '../serializers.js';
import type { SessionUser } from '../session.js';
import { lockPost, updatePost } from '../thread-store.js';
import { postNotFound, visibleThread } from './read-threads.js';

/**
 * An edit: in one transaction, the thread must be visible to `user`, the post in it and theirs to edit (staff edit
 * any, in closed threads too); then the thread's guest pages are invalidated.
 */
export async function editPost(ctx: Ctx, user: SessionUser, threadId: number, postId: number, source: string) {
  const parsed = renderPost(source);
  const { post, thread } = await ctx.db.tx(async (c) => {
    const t = await visibleThread(c, threadId, user);
    const target = await lockPost(c, postId, threadId);
    if (!target) throw postNotFound();
    const refusal = postEditRefusal(t, target.poster_id, user);
    if (refusal) throw forbidden(refusal);
    return { post: await updatePost(c, postId, source, parsed), thread: t };
  });
  await ctx.bus.publish(threadId);
  return postJson(post, thread, user);
}
