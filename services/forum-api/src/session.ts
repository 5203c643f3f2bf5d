import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { AppError, safeEqual, type Logger } from '@forum/shared';
import { readScope, type Db, type Queryable } from './db.js';
import { within, type Redis } from './redis.js';
import type { UserRow } from './user-store.js';

export interface SessionUser {
  id: number;
  username: string;
  slug: string;
  email: string;
  isStaff: boolean;
}

export const SESSION_COOKIE = 'sessionid';
export const CSRF_COOKIE = 'csrftoken';
const SESSION_TTL_S = 14 * 24 * 3600;
export const CSRF_RE = /^[A-Za-z0-9]{32,64}$/;
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Cookies carry `Secure` whenever the request came over TLS: Express's `req.secure` reads NGINX's X-Forwarded-Proto
 * from a trusted proxy only (TRUST_PROXY). SECURE_COOKIES forces it for a TLS terminator that does not send the
 * header; a cookie marked Secure on a plain-HTTP request would never come back, so it is not forced by default.
 */
export function secureCookie(res: Response, always: boolean): boolean {
  return always || res.req.secure;
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim();
    let v = part.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    if (!(k in out)) out[k] = v;
  }
  return out;
}

/** The user of this request (set by the session middleware), or undefined for anonymous. */
/**
 * The user's name for NGINX's access line (`$upstream_http_x_forum_user`, configs/nginx/nginx.conf): the api writes
 * no access line of its own for ordinary requests (ACCESS_LOG=errors), so NGINX's line is where a request's user is
 * recorded. NGINX hides the header from clients. A name node refuses as a header value is left out.
 */
export function nameUser(res: Response, username: string): void {
  try {
    res.setHeader('X-Forum-User', username);
  } catch {
    // not a valid header value: the request is still logged, without the user
  }
}

export const currentUser = (res: Response): SessionUser | undefined => res.locals.auth as SessionUser | undefined;

export function requireUser(res: Response, detail = 'This action is not available to guests.'): SessionUser {
  const u = currentUser(res);
  if (!u) throw new AppError('not_authenticated', 403, detail);
  return u;
}

/** Misago's login and registration views are for guests only (deny_authenticated). */
export function denySignedIn(res: Response): void {
  if (currentUser(res)) throw new AppError('permission_denied', 403, 'This action is not available to signed in users.');
}

/** What a session keeps of a user who just signed in or registered. */
export const sessionUserOf = (u: UserRow): SessionUser => ({ id: u.id, username: u.username, slug: u.slug, email: u.email, isStaff: u.is_staff });

/** Where a session's user came from (metrics/tests): the in-process cache, Redis, or PostgreSQL while Redis was away. */
export type SessionSource = 'cache' | 'redis' | 'postgres';

export interface SessionOptions {
  secret: string;
  secureCookies: boolean;
  /** in-process trust of a looked-up session (ms); also the bound if every revocation signal failed */
  cacheMs: number;
  /** a Redis lookup slower than this is answered by PostgreSQL */
  redisTimeoutMs: number;
  /** how often the recently revoked sessions are read from PostgreSQL (0: never; tests) */
  revocationPollMs: number;
}

/** A revoked session id is refused on this task this long, whatever Redis says (longer than any Redis failover). */
const TOMBSTONE_MS = 10 * 60_000;
/** A failed half of a revocation (the Redis DEL or the PostgreSQL UPDATE) is retried in the background this long. */
const REVOCATION_RETRY_MS = 60_000;

const SESSION_USER_SQL = `SELECT u.id, u.username, u.slug, u.email, u.is_staff FROM sessions s JOIN users u ON u.id = s.user_id
  WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_on > now() AND NOT u.is_banned`;

/**
 * Sessions (docs/DATA-TIER.md "During a failover"). A session is stored twice: in Redis (`session:<sha256 of id>`,
 * the per-request lookup, as docs/REQUIREMENTS.md §6 has it) and in PostgreSQL (`sessions`, the record).
 * - Lookup: in-process cache (cacheMs) -> Redis -> when Redis errs or has not answered in redisTimeoutMs (a failover:
 *   the master died, HAProxy has no route yet), PostgreSQL (primary, or a standby while the primary fails over).
 *   Redis's "no such session" is final: PostgreSQL is asked only when Redis cannot answer.
 * - Revocation (logout, password change, ban) is written to both: `revoked_at` in PostgreSQL and DEL in Redis. It is
 *   acknowledged when at least one took it; the other half is retried in the background. Every api task reads the
 *   ids revoked in PostgreSQL every revocationPollMs and refuses them for TOMBSTONE_MS whatever Redis says, so a DEL
 *   that failed (Redis down) or that a Redis failover lost (asynchronous replication) cannot bring a session back.
 * Why not a signed, self-contained token: revoking one within 2 s on every task needs shared state anyway, and this
 * keeps Redis the fast path while making PostgreSQL (synchronous replication, no lost commits) the record.
 */
export class Sessions {
  private readonly cache = new Map<string, { user: SessionUser | null; until: number }>();
  private readonly tombstones = new Map<string, number>();
  private redisDownUntil = 0;
  private pollSince: string | undefined;
  private poller?: NodeJS.Timeout;
  private polling = false;
  private closed = false;
  /** lookups by where they were answered */
  readonly lookups: Record<SessionSource, number> = { cache: 0, redis: 0, postgres: 0 };
  /** when the revocation poll last succeeded (Date.now()) */
  lastPollAt = 0;

  constructor(
    private readonly redis: Redis,
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly opts: SessionOptions,
  ) {
    if (opts.revocationPollMs > 0) {
      this.poller = setInterval(() => readScope.run({ internal: true }, () => void this.pollRevocations()), opts.revocationPollMs);
      this.poller.unref();
    }
  }

  close(): void {
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
  }

  private sign(id: string): string {
    return createHmac('sha256', this.opts.secret).update(id).digest('base64url').slice(0, 32);
  }

  /** The stored key of a session: its secret id never leaves the cookie. */
  static key(id: string): string {
    return createHash('sha256').update(id).digest('base64url');
  }

  /** Verifies the cookie's signature before touching Redis, so garbage cookies cost nothing. */
  private idFromCookie(value: string | undefined): string | undefined {
    if (!value || value.length > 128) return undefined;
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const id = value.slice(0, dot);
    return safeEqual(value.slice(dot + 1), this.sign(id)) ? id : undefined;
  }

  /** PostgreSQL first (the record), then Redis; either failing fails the login/registration (503). */
  async create(res: Response, user: SessionUser): Promise<void> {
    const id = randomBytes(24).toString('base64url');
    const key = Sessions.key(id);
    await this.db.rw.query(`INSERT INTO sessions (id, user_id, expires_on) VALUES ($1, $2, now() + make_interval(secs => $3))`, [key, user.id, SESSION_TTL_S]);
    try {
      await within(this.redis.set(`session:${key}`, JSON.stringify(user), 'EX', SESSION_TTL_S), 2000);
    } catch (err) {
      // not acknowledged: drop the record too (best effort; nobody holds the id)
      this.db.rw.query('DELETE FROM sessions WHERE id = $1', [key]).catch(() => undefined);
      throw new AppError('service_unavailable', 503, `Session store unavailable: ${(err as Error).message}`);
    }
    res.cookie(SESSION_COOKIE, `${id}.${this.sign(id)}`, {
      httpOnly: true,
      sameSite: 'lax',
      secure: secureCookie(res, this.opts.secureCookies),
      path: '/',
      maxAge: SESSION_TTL_S * 1000,
    });
    // Django rotates the CSRF token at login
    this.setCsrf(res);
    res.locals.auth = user;
    res.locals.user = user.username;
    res.locals.sessionKey = key;
    nameUser(res, user.username);
  }

  /** Logout: revoked in both stores (503 only if neither took it); the cookie is cleared either way. */
  async destroy(res: Response, cookieValue: string | undefined): Promise<void> {
    const id = this.idFromCookie(cookieValue);
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    res.locals.auth = undefined;
    if (!id) return;
    const key = Sessions.key(id);
    this.forget([key]);
    const pgDone = () => this.db.rw.query('UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [key]);
    const redisDone = () => within(this.redis.del(`session:${key}`), 1000);
    const [p, r] = await Promise.allSettled([withDeadline(pgDone(), 3000), redisDone()]);
    if (p.status === 'rejected' && r.status === 'rejected')
      throw new AppError('service_unavailable', 503, 'Sessions are temporarily unavailable, retry shortly.');
    if (p.status === 'rejected') this.retry('revoke in PostgreSQL', pgDone);
    if (r.status === 'rejected') this.retry('DEL in Redis', redisDone);
  }

  /**
   * Password change, ban: revokes the user's sessions (but `keepKey`) inside the caller's transaction `c`; after
   * the commit call the returned function (drops them here and in Redis).
   */
  async revokeUser(c: Queryable, userId: number, keepKey?: string): Promise<() => Promise<void>> {
    const { rows } = await c.query<{ id: string }>(
      'UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2 RETURNING id',
      [userId, keepKey ?? null],
    );
    const keys = rows.map((r) => r.id);
    return async () => {
      if (!keys.length) return;
      this.forget(keys);
      const del = () => within(this.redis.del(...keys.map((k) => `session:${k}`)), 1000);
      await del().catch(() => this.retry('DEL in Redis', del));
    };
  }

  /** The session key of this request (password change keeps it). */
  keyOf(res: Response): string | undefined {
    return res.locals.sessionKey as string | undefined;
  }

  private forget(keys: string[]): void {
    const until = Date.now() + TOMBSTONE_MS;
    for (const k of keys) {
      this.tombstones.set(k, until);
      this.cache.delete(k);
    }
  }

  private retry(what: string, fn: () => Promise<unknown>): void {
    const until = Date.now() + REVOCATION_RETRY_MS;
    const again = () => {
      if (this.closed) return;
      fn().then(
        () => this.logger.info({ what }, 'session revocation completed'),
        (err: Error) => {
          if (Date.now() < until) setTimeout(again, 1000).unref();
          else this.logger.warn({ what, err: err.message }, 'session revocation gave up (the revocation poll still refuses the session)');
        },
      );
    };
    setTimeout(again, 1000).unref();
  }

  /** Reads the ids revoked recently (a standby is fine: replication lag is milliseconds) and refuses them here. */
  async pollRevocations(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      const { rows } = await this.db.ro.query<{ at: string; ids: string[] }>(
        `SELECT now()::text AS at, coalesce(array_agg(id), '{}') AS ids FROM sessions
         WHERE revoked_at IS NOT NULL AND revoked_at > coalesce($1::timestamptz, now() - make_interval(secs => $2)) - interval '30 seconds'`,
        [this.pollSince ?? null, TOMBSTONE_MS / 1000],
      );
      const fresh = rows[0].ids.filter((k) => !this.tombstones.has(k));
      if (fresh.length) {
        this.forget(fresh);
        // the revoker DELs them too; this covers a revoker that died, or a DEL a Redis failover lost
        within(this.redis.del(...fresh.map((k) => `session:${k}`)), 1000).catch(() => undefined);
      }
      this.pollSince = rows[0].at;
      this.lastPollAt = Date.now();
      const now = Date.now();
      if (this.tombstones.size > 1000 || Math.random() < 0.01) for (const [k, t] of this.tombstones) if (t < now) this.tombstones.delete(k);
    } catch {
      // PostgreSQL unreachable even directly: the cache TTL (cacheMs) bounds what this task misses
    } finally {
      this.polling = false;
    }
  }

  /** The user of a session key: cache, Redis, PostgreSQL (see the class comment). Throws 503 when neither store answers. */
  async lookup(key: string): Promise<{ user: SessionUser | null; source: SessionSource }> {
    const now = Date.now();
    const dead = this.tombstones.get(key);
    if (dead !== undefined && dead > now) return { user: null, source: 'cache' };
    const hit = this.cache.get(key);
    if (hit && hit.until > now) {
      this.lookups.cache++;
      return { user: hit.user, source: 'cache' };
    }
    let user: SessionUser | null | undefined;
    let source: SessionSource = 'redis';
    if (this.redisDownUntil <= now && this.redis.status === 'ready') {
      try {
        const raw = await within(this.redis.get(`session:${key}`), this.opts.redisTimeoutMs);
        user = null;
        if (raw) {
          try {
            user = JSON.parse(raw) as SessionUser;
          } catch {
            // an unreadable session is no session
          }
        }
      } catch {
        this.redisDownUntil = Date.now() + 1000;
      }
    }
    if (user === undefined) {
      source = 'postgres';
      try {
        const { rows } = await this.db.rw.query<{ id: number; username: string; slug: string; email: string; is_staff: boolean }>(SESSION_USER_SQL, [key]);
        const u = rows[0];
        user = u ? { id: u.id, username: u.username, slug: u.slug, email: u.email, isStaff: u.is_staff } : null;
      } catch (err) {
        throw new AppError('service_unavailable', 503, `Session store unavailable: ${(err as Error).message}`);
      }
    }
    this.lookups[source]++;
    // a revocation may have arrived while we looked
    if (this.tombstones.has(key)) return { user: null, source };
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(key, { user, until: Date.now() + this.opts.cacheMs });
    return { user, source };
  }

  setCsrf(res: Response): string {
    const token = randomBytes(24).toString('hex');
    res.cookie(CSRF_COOKIE, token, { sameSite: 'lax', secure: secureCookie(res, this.opts.secureCookies), path: '/', maxAge: 365 * 24 * 3600 * 1000 });
    return token;
  }

  /**
   * Loads the session user and enforces Django's CSRF rule: unsafe methods must echo the `csrftoken`
   * cookie in `X-CSRFToken`. Any request without a valid token cookie gets one.
   */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const cookies = parseCookies(req.headers.cookie);
      res.locals.cookies = cookies;
      const csrf = cookies[CSRF_COOKIE];
      const csrfValid = csrf !== undefined && CSRF_RE.test(csrf);
      if (!csrfValid) this.setCsrf(res);
      if (UNSAFE.has(req.method)) {
        if (!csrfValid) return next(new AppError('permission_denied', 403, 'CSRF Failed: CSRF cookie not set.'));
        const header = req.headers['x-csrftoken'];
        if (typeof header !== 'string' || !header) return next(new AppError('permission_denied', 403, 'CSRF Failed: CSRF token missing.'));
        if (!safeEqual(header, csrf)) return next(new AppError('permission_denied', 403, 'CSRF Failed: CSRF token incorrect.'));
      }
      const id = this.idFromCookie(cookies[SESSION_COOKIE]);
      if (!id) return next();
      const key = Sessions.key(id);
      this.lookup(key).then(
        ({ user }) => {
          if (user) {
            res.locals.auth = user;
            res.locals.user = user.username;
            res.locals.sessionKey = key;
            nameUser(res, user.username);
          }
          next();
        },
        (err) => next(err),
      );
    };
  }
}

/** The promise, or a connection-class error after `ms` (a write through a route that hangs in a failover). */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  p.catch(() => undefined);
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Connection terminated: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
