import { Router } from 'express';
import { asyncHandler } from '@forum/shared';
import type { Ctx } from '../context.js';
import { parseId, registrationFields } from '../request-validation.js';
import { authUserJson, userJson } from '../serializers.js';
import { currentUser, denySignedIn, sessionUserOf } from '../session.js';
import { changePassword, profile, setBan } from '../use-cases/account.js';
import { register } from '../use-cases/register.js';

const NO_USER = 'User not found.';

/** Registration, profiles, password change, bans. */
export function usersRouter(ctx: Ctx): Router {
  const r = Router();
  r.post(
    '/api/users/',
    asyncHandler(async (req, res) => {
      denySignedIn(res);
      const user = await register(ctx, registrationFields(req.body));
      await ctx.sessions.create(res, sessionUserOf(user));
      // Misago answers 200 with {activation, username, email}; the signed-in user's fields ride along
      res.json({ ...authUserJson(user), activation: 'active' });
    }),
  );
  r.get(
    '/api/users/:id/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, NO_USER);
      const viewer = currentUser(res);
      res.json(userJson(await profile(ctx, viewer, id), viewer));
    }),
  );
  r.post(
    '/api/users/:id/change-password/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, NO_USER);
      await changePassword(ctx, currentUser(res), id, req.body, ctx.sessions.keyOf(res));
      res.json({ detail: 'Your password has been changed.' });
    }),
  );
  const ban = (banned: boolean) =>
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, NO_USER);
      await setBan(ctx, currentUser(res), id, banned);
      res.json({ id, is_banned: banned });
    });
  r.post('/api/users/:id/ban/', ban(true));
  r.delete('/api/users/:id/ban/', ban(false));
  return r;
}
