import { Router, type Request } from 'express';
import { AppError, asyncHandler, notFound } from '@forum/shared';
import type { Ctx } from '../context.js';
import { queryIntOr404 } from '../drf.js';
import { LISTS, type ListName } from '../forum-rules.js';
import { listSlot, pageRoute, threadSlot } from '../guest-pages.js';
import { newThreadFields, parseCategoryQuery, parseId } from '../request-validation.js';
import { requireUser, type SessionUser } from '../session.js';
import { deleteThread } from '../use-cases/delete-thread.js';
import { patchThread } from '../use-cases/patch-thread.js';
import { threadList, threadPage } from '../use-cases/read-threads.js';
import { startThread, startThreadEditor } from '../use-cases/start-thread.js';

const PRIVATE_CATEGORY = 1;
const ROOT_CATEGORY = 2;
const NO_THREAD = 'No Thread matches the given query.';

/** A thread list's query, checked in Misago's order: list name, cursor, who may see the list, category. */
function listQuery(req: Request, viewer: SessionUser | undefined) {
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
  return { category, list, start };
}

/** Threads: lists, the start-thread editor, start, read, patch, delete. Guests' pages come from the page cache. */
export function threadsRouter(ctx: Ctx): Router {
  const r = Router();
  r.get(
    '/api/threads/',
    pageRoute(ctx, (req, viewer) => {
      const q = listQuery(req, viewer);
      return { slot: listSlot(ctx.cache, `${q.category}|${q.list}|${q.start}`), build: () => threadList(ctx, viewer, q) };
    }),
  );
  r.get(
    '/api/threads/editor/',
    asyncHandler(async (_req, res) => {
      res.json(await startThreadEditor(ctx, requireUser(res, 'You need to be signed in to start threads.')));
    }),
  );
  r.post(
    '/api/threads/',
    asyncHandler(async (req, res) => {
      const user = requireUser(res, 'You need to be signed in to start threads.');
      res.json(await startThread(ctx, user, newThreadFields(req.body, user.isStaff)));
    }),
  );
  r.get(
    '/api/threads/:id/',
    pageRoute(ctx, (req, viewer) => {
      const id = parseId(req.params.id, NO_THREAD);
      return { slot: threadSlot(ctx.cache, id, 'thread'), build: () => threadPage(ctx, viewer, id) };
    }),
  );
  r.patch(
    '/api/threads/:id/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, NO_THREAD);
      res.json(await patchThread(ctx, requireUser(res), id, req.body as unknown));
    }),
  );
  r.delete(
    '/api/threads/:id/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, NO_THREAD);
      await deleteThread(ctx, requireUser(res), id);
      res.json({});
    }),
  );
  return r;
}
