import { Router, type Request } from 'express';
import { asyncHandler, notFound } from '@forum/shared';
import type { Ctx } from '../context.js';
import { queryIntOr404 } from '../drf.js';
import { pageRoute, threadSlot } from '../guest-pages.js';
import { parseId, postFields } from '../request-validation.js';
import { requireUser } from '../session.js';
import { editPost } from '../use-cases/edit-post.js';
import { markPostRead, postsPage } from '../use-cases/read-threads.js';
import { reply, replyEditor } from '../use-cases/reply.js';

const NO_THREAD = 'No Thread matches the given query.';
const NO_POST = 'No Post matches the given query.';

/** `/api/threads/:id/posts/:pid/...`: the thread's id, then the post's (each 404 with its own message). */
const postPath = (req: Request) => ({ id: parseId(req.params.id, NO_THREAD), pid: parseId(req.params.pid, NO_POST) });

/** Posts of a thread: the pages (guests' from the page cache), reply, the reply editor, edit, mark read. */
export function postsRouter(ctx: Ctx): Router {
  const r = Router();
  r.get(
    '/api/threads/:id/posts/',
    pageRoute(ctx, (req, viewer) => {
      const id = parseId(req.params.id, NO_THREAD);
      // Misago: page 0 (or none) is the first page; anything but digits is "not found"
      const pageRaw = queryIntOr404(req.query.page, 1);
      if (pageRaw === null) throw notFound('Invalid page.');
      const page = Math.max(1, pageRaw);
      return { slot: threadSlot(ctx.cache, id, `posts:${page}`), build: () => postsPage(ctx, viewer, id, page) };
    }),
  );
  r.post(
    '/api/threads/:id/posts/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, NO_THREAD);
      const user = requireUser(res, 'You have to sign in to reply threads.');
      res.json(await reply(ctx, user, id, postFields(req.body)));
    }),
  );
  r.get(
    '/api/threads/:id/posts/reply_editor/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, NO_THREAD);
      await replyEditor(ctx, requireUser(res, 'You have to sign in to reply threads.'), id);
      res.json({});
    }),
  );
  r.put(
    '/api/threads/:id/posts/:pid/',
    asyncHandler(async (req, res) => {
      const { id, pid } = postPath(req);
      const user = requireUser(res, 'You have to sign in to edit posts.');
      res.json(await editPost(ctx, user, id, pid, postFields(req.body)));
    }),
  );
  r.post(
    '/api/threads/:id/posts/:pid/read/',
    asyncHandler(async (req, res) => {
      const { id, pid } = postPath(req);
      const user = requireUser(res, 'You have to sign in to mark posts as read.');
      res.json({ thread_is_read: await markPostRead(ctx, user, id, pid) });
    }),
  );
  return r;
}
