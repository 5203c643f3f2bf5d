import { Router } from 'express';
import { asyncHandler } from '@forum/shared';
import type { Ctx } from '../context.js';
import { RULES } from '../forum-rules.js';
import { body, loginFields } from '../request-validation.js';
import { anonymousJson, authUserJson } from '../serializers.js';
import { currentUser, denySignedIn, SESSION_COOKIE, sessionUserOf } from '../session.js';
import { ownAccount } from '../use-cases/account.js';
import { login } from '../use-cases/login.js';

/** Who is signed in, login, logout, and the registration criteria. */
export function authRouter(ctx: Ctx): Router {
  const r = Router();
  r.get(
    '/api/auth/',
    asyncHandler(async (_req, res) => {
      const user = await ownAccount(ctx, currentUser(res));
      res.json(user ? authUserJson(user) : anonymousJson());
    }),
  );
  r.post(
    '/api/auth/',
    asyncHandler(async (req, res) => {
      denySignedIn(res);
      const { username, password } = loginFields(body(req.body));
      const user = await login(ctx, req.ip ?? 'unknown', username, password);
      await ctx.sessions.create(res, sessionUserOf(user));
      res.json(authUserJson(user));
    }),
  );
  r.get('/api/auth/criteria/', (_req, res) => {
    res.json({
      username: { min_length: RULES.usernameMin, max_length: RULES.usernameMax },
      password: [
        { name: 'UserAttributeSimilarityValidator', user_attributes: ['username', 'email'] },
        { name: 'MinimumLengthValidator', min_length: RULES.passwordMin },
        { name: 'MaximumLengthValidator', max_length: RULES.passwordMax },
      ],
    });
  });
  const logout = asyncHandler(async (_req, res) => {
    await ctx.sessions.destroy(res, (res.locals.cookies as Record<string, string>)[SESSION_COOKIE]);
    res.json({ detail: 'ok' });
  });
  r.post('/api/auth/logout/', logout);
  r.post('/logout/', logout);
  return r;
}
