import { Router } from 'express';
import { AppError, asyncHandler, badRequest, fieldErrors } from '@forum/shared';
import type { Ctx } from '../context.js';
import { body, check, loginFields, parseId, RULES, slugify, validateEmail, validatePassword, validateUsername } from '../domain.js';
import { FieldErrors } from '../drf.js';
import { dummyHash, hashPassword, verifyPassword } from '../passwords.js';
import { anonymousJson, authUserJson, categoriesJson, userJson, type UserRow } from '../serializers.js';
import { currentUser, SESSION_COOKIE, type SessionUser } from '../session.js';
import { within } from '../redis.js';

const USER_COLS = 'id, username, slug, email, password_hash, is_staff, joined_on, threads, posts';
const toSession = (u: UserRow): SessionUser => ({ id: u.id, username: u.username, slug: u.slug, email: u.email, isStaff: u.is_staff });

/**
 * Failed logins per client IP in a 30 s sliding window (a Redis sorted set). The 8th failure answers 429 and
 * emits `login_bruteforce` (pino line + the `security:events` stream that ipblock consumes); further attempts
 * inside the window get 429 without the password being checked.
 */
async function failuresInWindow(ctx: Ctx, ip: string): Promise<number> {
  const key = `login:failures:${ip}`;
  const now = Date.now();
  const res = await closed(
    ctx.redis
      .multi()
      .zremrangebyscore(key, 0, now - RULES.bruteforceWindowSeconds * 1000)
      .zcard(key)
      .exec(),
  );
  return Number(res?.[1]?.[1] ?? 0);
}

async function recordFailure(ctx: Ctx, ip: string): Promise<number> {
  const key = `login:failures:${ip}`;
  const now = Date.now();
  const res = await closed(
    ctx.redis
      .multi()
      .zadd(key, now, `${now}-${Math.random().toString(36).slice(2, 10)}`)
      .zremrangebyscore(key, 0, now - RULES.bruteforceWindowSeconds * 1000)
      .zcard(key)
      .pexpire(key, RULES.bruteforceWindowSeconds * 1000)
      .exec(),
  );
  return Number(res?.[2]?.[1] ?? 0);
}

/**
 * The brute-force counter fails CLOSED: a login whose failures cannot be counted (Redis failing over) answers 503
 * with Retry-After instead of checking the password uncounted. A multi() whose commands failed inside resolves with
 * their errors, so those count as failures too.
 */
async function closed<T extends [Error | null, unknown][] | null>(p: Promise<T>): Promise<T> {
  let res: T;
  try {
    res = await within(p, 2000);
  } catch {
    throw new AppError('service_unavailable', 503, 'Sign-in is temporarily unavailable, retry shortly.');
  }
  if (!res || res.some(([err]) => err)) throw new AppError('service_unavailable', 503, 'Sign-in is temporarily unavailable, retry shortly.');
  return res;
}

async function emitBruteforce(ctx: Ctx, ip: string, failures: number): Promise<void> {
  // once per window per IP, however many more attempts follow
  const first = await ctx.redis.set(`login:bruteforce-emitted:${ip}`, '1', 'EX', RULES.bruteforceWindowSeconds, 'NX');
  if (first !== 'OK') return;
  const windowSeconds = RULES.bruteforceWindowSeconds;
  ctx.logger.warn({ event: 'login_bruteforce', ip, failures, windowSeconds }, 'login brute force detected');
  await ctx.redis.xadd(
    'security:events',
    'MAXLEN',
    '~',
    '100000',
    '*',
    'type',
    'login_bruteforce',
    'ip',
    ip,
    'failures',
    String(failures),
    'windowSeconds',
    String(windowSeconds),
    'at',
    new Date().toISOString(),
  );
}

const tooMany = () =>
  new AppError('too_many_login_attempts', 429, 'Too many failed login attempts from your address. Try again later.', true, {
    retryAfter: RULES.bruteforceWindowSeconds,
  });

export function authRouter(ctx: Ctx): Router {
  const r = Router();

  r.get(
    '/api/auth/',
    asyncHandler(async (_req, res) => {
      const viewer = currentUser(res);
      if (!viewer) return res.json(anonymousJson());
      const { rows } = await ctx.db.rw.query<UserRow>(`SELECT ${USER_COLS} FROM users WHERE id = $1`, [viewer.id]);
      res.json(rows[0] ? authUserJson(rows[0]) : anonymousJson());
    }),
  );

  r.post(
    '/api/auth/',
    asyncHandler(async (req, res) => {
      // Misago's login view is for guests only (deny_authenticated)
      if (currentUser(res)) throw new AppError('permission_denied', 403, 'This action is not available to signed in users.');
      const ip = req.ip ?? 'unknown';
      const { username, password } = loginFields(body(req.body));
      if ((await failuresInWindow(ctx, ip)) >= RULES.bruteforceFailures) throw tooMany();
      const { rows } = await ctx.db.rw.query<UserRow & { password_hash: string; is_banned: boolean }>(
        `SELECT ${USER_COLS}, is_banned FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) LIMIT 1`,
        [username],
      );
      const user = rows[0];
      const ok = await verifyPassword(user?.password_hash ?? (await dummyHash()), password);
      if (user && ok && user.is_banned) throw badRequest('This account has been banned.', 'banned');
      if (!user || !ok) {
        const failures = await recordFailure(ctx, ip);
        if (failures >= RULES.bruteforceFailures) {
          await emitBruteforce(ctx, ip, failures);
          throw tooMany();
        }
        throw badRequest('Login or password is incorrect.', 'invalid_login');
      }
      await ctx.sessions.create(res, toSession(user));
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

  r.post(
    '/api/users/',
    asyncHandler(async (req, res) => {
      if (currentUser(res)) throw new AppError('permission_denied', 403, 'This action is not available to signed in users.');
      const b = body(req.body);
      const e = new FieldErrors();
      const username = validateUsername(e, b);
      const email = validateEmail(e, b);
      const password = validatePassword(e, b, username);
      check(e);
      if (username === undefined || email === undefined || password === undefined) throw new Error('validated fields missing');
      const hash = await hashPassword(password);
      let user: UserRow;
      try {
        const { rows } = await ctx.db.rw.query<UserRow>(
          `INSERT INTO users (username, slug, email, password_hash) VALUES ($1, $2, $3, $4) RETURNING ${USER_COLS}`,
          [username, slugify(username, 'user'), email, hash],
        );
        user = rows[0];
      } catch (err) {
        const e = err as { code?: string; constraint?: string };
        if (e.code === '23505' && e.constraint === 'users_username_lower')
          throw fieldErrors({ username: ['This username is not available.'] }, 'username_taken');
        if (e.code === '23505' && e.constraint === 'users_email_lower') throw fieldErrors({ email: ['This e-mail address is not available.'] }, 'email_taken');
        throw err;
      }
      await ctx.sessions.create(res, toSession(user));
      // Misago answers 200 with {activation, username, email}; the signed-in user's fields ride along
      res.json({ ...authUserJson(user), activation: 'active' });
    }),
  );

  r.get(
    '/api/users/:id/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, 'User not found.');
      const viewer = currentUser(res);
      const { rows } = await (viewer ? ctx.db.rw : ctx.db.ro).query<UserRow>(`SELECT ${USER_COLS} FROM users WHERE id = $1`, [id]);
      if (!rows[0]) throw new AppError('not_found', 404, 'User not found.');
      res.json(userJson(rows[0], viewer));
    }),
  );

  // Password change (the current session stays signed in, as Django's update_session_auth_hash; every other session
  // of the user is revoked on every api task within a second, see Sessions).
  r.post(
    '/api/users/:id/change-password/',
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, 'User not found.');
      const viewer = currentUser(res);
      if (!viewer || viewer.id !== id) throw new AppError('permission_denied', 403, "You can't change other users' passwords.");
      const b = body(req.body);
      const e = new FieldErrors();
      if (typeof b.password !== 'string' || !b.password) e.add('password', 'Enter your current password.');
      const next = validatePassword(e, b, viewer.username, 'new_password');
      check(e);
      if (next === undefined || typeof b.password !== 'string') throw new Error('validated fields missing');
      const { rows } = await ctx.db.rw.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [id]);
      if (!rows[0] || !(await verifyPassword(rows[0].password_hash, b.password)))
        throw fieldErrors({ password: ['Entered password is invalid.'] }, 'invalid_password');
      const hash = await hashPassword(next);
      const done = await ctx.db.tx(async (c) => {
        await c.query('UPDATE users SET password_hash = $2 WHERE id = $1', [id, hash]);
        return ctx.sessions.revokeUser(c, id, ctx.sessions.keyOf(res));
      });
      await done();
      res.json({ detail: 'Your password has been changed.' });
    }),
  );

  // Ban / unban (staff): a ban refuses the user's logins and revokes all their sessions on every api task.
  const setBan = (banned: boolean) =>
    asyncHandler(async (req, res) => {
      const id = parseId(req.params.id, 'User not found.');
      const viewer = currentUser(res);
      if (!viewer?.isStaff) throw new AppError('permission_denied', 403, "You don't have permission to ban users.");
      if (viewer.id === id) throw badRequest("You can't ban yourself.", 'invalid');
      const done = await ctx.db.tx<() => Promise<void>>(async (c) => {
        const { rowCount } = await c.query('UPDATE users SET is_banned = $2 WHERE id = $1', [id, banned]);
        if (!rowCount) throw new AppError('not_found', 404, 'User not found.');
        return banned ? ctx.sessions.revokeUser(c, id) : async () => undefined;
      });
      await done();
      res.json({ id, is_banned: banned });
    });
  r.post('/api/users/:id/ban/', setBan(true));
  r.delete('/api/users/:id/ban/', setBan(false));

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
