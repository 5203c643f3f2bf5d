import { Router } from 'express';
import { asyncHandler } from '@forum/shared';
import type { Ctx } from '../context.js';
import { currentUser } from '../session.js';
import { categoryIndex } from '../use-cases/read-categories.js';

/** The category index (one route). */
export function categoriesRouter(ctx: Ctx): Router {
  return Router().get(
    '/api/categories/',
    asyncHandler(async (_req, res) => {
      res.json(await categoryIndex(ctx, currentUser(res)));
    }),
  );
}
