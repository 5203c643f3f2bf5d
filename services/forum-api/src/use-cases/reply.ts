import { forbidden } from '@forum/shared';
import type { Ctx } from '../context.js';
import { postHoldingFloodSlot } from '../flood.js';
import { canReply, canSee } from '../forum-rules.js';
import { renderPost } from '../render.js';
import { postJson } from '../serializers.js';
import type { SessionUser } from '../session.js';
import { insertReply } from '../thread-store.js';
import { threadNotFound, visibleThread } from './read-threads.js';

const closedThread = () => forbidden("This thread is closed. You can't reply to it.");

/** Misago's reply editor: an empty answer when `user` may reply to the thread. */
export async function replyEditor(ctx: Ctx, user: SessionUser, threadId: number): Promise<void> {
  const t = await visibleThread(ctx.db.rw, threadId, user);
  if (!canReply(t, user)) throw closedThread();
}

/**
 * A reply: rendered, written in one statement under the user's flood slot (the statement itself checks that the
 * user may see and reply to the thread; when it wrote nothing the slot is given back and the refusal says why),
 * then the thread's guest pages invalidated and the post's jobs enqueued.
 */
export async function reply(ctx: Ctx, user: SessionUser, threadId: number, source: string) {
  const parsed = renderPost(source);
  const { thread, post } = await postHoldingFloodSlot(
    ctx.flood,
    user.id,
    () => insertReply(ctx.db.rw, threadId, user, source, parsed),
    (r) => r.post !== null,
  );
  if (!thread || !post) {
    if (!thread || !canSee(thread, user)) throw threadNotFound();
    throw closedThread();
  }
  await ctx.bus.publish(threadId);
  await ctx.enqueue({ type: 'post_created', postId: post.id });
  return postJson(post, { id: threadId, slug: thread.slug, is_closed: thread.is_closed, last_read_post_id: post.id }, user);
}
