import { Router } from 'express';
import { asyncHandler } from '@forum/shared';
import type { Ctx } from '../context.js';
import { categoriesJson } from '../serializers.js';
import { currentUser } from '../session.js';

/** The category tree with the viewer's read state (counters move with every post: read each time, never cached). */
export function categoriesRouter(ctx: Ctx): Router {
  const r = Router();
  r.get(
    '/api/categories/',
    asyncHandler(async (_req, res) => {
      const viewer = currentUser(res);
      const db = viewer ? ctx.db.rw : ctx.db.ro;
      const [tree, unread] = await Promise.all([ctx.categories.load(db), viewer ? ctx.categories.unread(db, viewer) : new Set<number>()]);
      res.json(categoriesJson(tree, viewer, unread));
    }),
  );
  return r;
}
