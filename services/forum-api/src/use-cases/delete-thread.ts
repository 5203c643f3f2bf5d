import { forbidden } from '@forum/shared';
import type { Ctx } from '../context.js';
import { canDeleteThread } from '../forum-rules.js';
import type { SessionUser } from '../session.js';
import { deleteThread as deleteThreadRow } from '../thread-store.js';
import { visibleThread } from './read-threads.js';

/** Deletes the thread (with its posts), then invalidates its guest pages and has the worker recount its category. */
export async function deleteThread(ctx: Ctx, user: SessionUser, id: number): Promise<void> {
  const categoryId = await ctx.db.tx(async (c) => {
    const t = await visibleThread(c, id, user, true);
    if (!canDeleteThread(t, user)) throw forbidden("You can't delete this thread.");
    await deleteThreadRow(c, id);
    return t.category_id;
  });
  await ctx.bus.publish(id);
  await ctx.enqueue({ type: 'category_sync', categoryId });
}
