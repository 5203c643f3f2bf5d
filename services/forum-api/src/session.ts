import { createHmac, randomBytes } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { AppError, safeEqual } from '@forum/shared';
import type { Redis } from './redis.js';

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
export const currentUser = (res: Response): SessionUser | undefined => res.locals.auth as SessionUser | undefined;

export function requireUser(res: Response, detail = 'This action is not available to guests.'): SessionUser {
  const u = currentUser(res);
  if (!u) throw new AppError('not_authenticated', 403, detail);
  return u;
}

export class Sessions {
  constructor(
    private readonly redis: Redis,
    private readonly secret: string,
    private readonly secureCookies: boolean,
  ) {}

  private sign(id: string): string {
    return createHmac('sha256', this.secret).update(id).digest('base64url').slice(0, 32);
  }

  /** Verifies the cookie's signature before touching Redis, so garbage cookies cost nothing. */
  private idFromCookie(value: string | undefined): string | undefined {
    if (!value || value.length > 128) return undefined;
    const dot = value.indexOf('.');
    if (dot <= 0) return undefined;
    const id = value.slice(0, dot);
    return safeEqual(value.slice(dot + 1), this.sign(id)) ? id : undefined;
  }

  async create(res: Response, user: SessionUser): Promise<void> {
    const id = randomBytes(24).toString('base64url');
    await this.redis.set(`session:${id}`, JSON.stringify(user), 'EX', SESSION_TTL_S);
    res.cookie(SESSION_COOKIE, `${id}.${this.sign(id)}`, {
      httpOnly: true,
      sameSite: 'lax',
      secure: this.secureCookies,
      path: '/',
      maxAge: SESSION_TTL_S * 1000,
    });
    // Django rotates the CSRF token at login
    this.setCsrf(res);
    res.locals.auth = user;
    res.locals.user = user.username;
  }

  async destroy(res: Response, cookieValue: string | undefined): Promise<void> {
    const id = this.idFromCookie(cookieValue);
    if (id) await this.redis.del(`session:${id}`);
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    res.locals.auth = undefined;
  }

  setCsrf(res: Response): string {
    const token = randomBytes(24).toString('hex');
    res.cookie(CSRF_COOKIE, token, { sameSite: 'lax', secure: this.secureCookies, path: '/', maxAge: 365 * 24 * 3600 * 1000 });
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
      this.redis.get(`session:${id}`).then(
        (raw) => {
          if (raw) {
            try {
              const user = JSON.parse(raw) as SessionUser;
              res.locals.auth = user;
              res.locals.user = user.username;
            } catch {
              // an unreadable session is no session
            }
          }
          next();
        },
        (err) => next(new AppError('service_unavailable', 503, `Session store unavailable: ${(err as Error).message}`)),
      );
    };
  }
}
