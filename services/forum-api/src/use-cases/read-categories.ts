import type { Ctx } from '../context.js';
import { categoriesJson } from '../serializers.js';
import type { SessionUser } from '../session.js';
import { reader } from './read-threads.js';

/**
 * The category index with the viewer's read state. Its counters move with every post, so it is read each time
 * (never the cached tree thread pages carry).
 */
export async function categoryIndex(ctx: Ctx, viewer: SessionUser | undefined) {
  const db = reader(ctx, viewer);
  const [tree, unread] = await Promise.all([ctx.categories.load(db), viewer ? ctx.categories.unread(db, viewer) : new Set<number>()]);
  return categoriesJson(tree, viewer, unread);
}
