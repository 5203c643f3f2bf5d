import { Router } from 'express';
import { AppError, asyncHandler, badRequest } from '@forum/shared';
import type { Ctx } from '../context.js';
import { body, loginFields, parseId, RULES, slugify, validateEmail, validatePassword, validateUsername } from '../domain.js';
import { dummyHash, hashPassword, verifyPassword } from '../passwords.js';
import { anonymousJson, authUserJson, userJson, type UserRow } from '../serializers.js';
import { currentUser, SESSION_COOKIE, type SessionUser } from '../session.js';

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
  const res = await ctx.redis.multi().zremrangebyscore(key, 0, now - RULES.bruteforceWindowSeconds * 1000).zcard(key).exec();
  return Number(res?.[1]?.[1] ?? 0);
}

async function recordFailure(ctx: Ctx, ip: string): Promise<number> {
  const key = `login:failures:${ip}`;
  const now = Date.now();
  const res = await ctx.redis
    .multi()
    .zadd(key, now, `${now}-${Math.random().toString(36).slice(2, 10)}`)
    .zremrangebyscore(key, 0, now - RULES.bruteforceWindowSeconds * 1000)
    .zcard(key)
    .pexpire(key, RULES.bruteforceWindowSeconds * 1000)
    .exec();
  return Number(res?.[2]?.[1] ?? 0);
}

async function emitBruteforce(ctx: Ctx, ip: string, failures: number): Promise<void> {
  // once per window per IP, however many more attempts follow
  const first = await ctx.redis.set(`login:bruteforce-emitted:${ip}`, '1', 'EX', RULES.bruteforceWindowSeconds, 'NX');
  if (first !== 'OK') return;
  const windowSeconds = RULES.bruteforceWindowSeconds;
  ctx.logger.warn({ event: 'login_bruteforce', ip, failures, windowSeconds }, 'login brute force detected');
  await ctx.redis.xadd('security:events', 'MAXLEN', '~', '100000', '*', 'type', 'login_bruteforce', 'ip', ip, 'failures', String(failures), 'windowSeconds', String(windowSeconds), 'at', new Date().toISOString());
}

const tooMany = () =>
  new AppError('too_many_login_attempts', 429, 'Too many failed login attempts from your address. Try again later.', true, {
    retryAfter: RULES.bruteforceWindowSeconds,
  });

export function authRouter(ctx: Ctx): Router {
  const r = Router();

  r.get('/api/auth/', asyncHandler(async (_req, res) => {
    const viewer = currentUser(res);
    if (!viewer) return res.json(anonymousJson());
    const { rows } = await ctx.db.rw.query<UserRow>(`SELECT ${USER_COLS} FROM users WHERE id = $1`, [viewer.id]);
    res.json(rows[0] ? authUserJson(rows[0]) : anonymousJson());
  }));

  r.post('/api/auth/', asyncHandler(async (req, res) => {
    const ip = req.ip ?? 'unknown';
    const { username, password } = loginFields(body(req.body));
    if ((await failuresInWindow(ctx, ip)) >= RULES.bruteforceFailures) throw tooMany();
    const { rows } = await ctx.db.rw.query<UserRow & { password_hash: string }>(
      `SELECT ${USER_COLS} FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) LIMIT 1`,
      [username],
    );
    const user = rows[0];
    const ok = await verifyPassword(user?.password_hash ?? (await dummyHash()), password);
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
  }));

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

  r.post('/api/users/', asyncHandler(async (req, res) => {
    if (currentUser(res)) throw new AppError('permission_denied', 403, 'This action is not available to signed in users.');
    const b = body(req.body);
    const username = validateUsername(b);
    const email = validateEmail(b);
    const password = validatePassword(b, username);
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
        throw badRequest('This username is not available.', 'username_taken', { field: 'username' });
      if (e.code === '23505' && e.constraint === 'users_email_lower')
        throw badRequest('This e-mail address is not available.', 'email_taken', { field: 'email' });
      throw err;
    }
    await ctx.sessions.create(res, toSession(user));
    res.status(201).json(authUserJson(user));
  }));

  r.get('/api/users/:id/', asyncHandler(async (req, res) => {
    const id = parseId(req.params.id, 'User not found.');
    const viewer = currentUser(res);
    const { rows } = await (viewer ? ctx.db.rw : ctx.db.ro).query<UserRow>(`SELECT ${USER_COLS} FROM users WHERE id = $1`, [id]);
    if (!rows[0]) throw new AppError('not_found', 404, 'User not found.');
    res.json(userJson(rows[0], viewer));
  }));

  r.get('/api/categories/', asyncHandler(async (_req, res) => {
    const { rows } = await ctx.db.ro.query<{
      id: number; parent_id: number | null; name: string; slug: string; description: string; level: number; is_closed: boolean;
      threads: number; posts: number; last_thread_id: number | null; last_thread_title: string | null; last_thread_slug: string | null;
      last_post_on: Date | null; last_poster_name: string | null;
    }>(`SELECT id, parent_id, name, slug, description, level, is_closed, threads, posts, last_thread_id, last_thread_title,
               last_thread_slug, last_post_on, last_poster_name FROM categories WHERE special_role IS NULL ORDER BY level, id`);
    type Node = Record<string, unknown> & { subcategories: Node[] };
    const byId = new Map<number, Node>();
    const top: Node[] = [];
    for (const c of rows) {
      const node: Node = {
        id: c.id, parent: c.parent_id, name: c.name, slug: c.slug, description: c.description ? { plain: c.description } : null,
        level: c.level, is_closed: c.is_closed, threads: c.threads, posts: c.posts,
        last_thread_id: c.last_thread_id, last_thread_title: c.last_thread_title, last_thread_slug: c.last_thread_slug,
        last_post_on: c.last_post_on, last_poster_name: c.last_poster_name,
        url: { index: `/c/${c.slug}/${c.id}/`, last_thread: c.last_thread_id ? `/t/${c.last_thread_slug}/${c.last_thread_id}/` : null },
        subcategories: [],
      };
      byId.set(c.id, node);
      const parent = c.parent_id === null ? undefined : byId.get(c.parent_id);
      if (parent) parent.subcategories.push(node);
      else top.push(node);
    }
    res.json(top);
  }));

  return r;
}
