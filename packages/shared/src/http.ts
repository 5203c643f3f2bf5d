import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import type { RequestHandler, Request } from 'express';
import type { Logger } from 'pino';
import { AppError } from './errors.js';

/**
 * One pino JSON line per request: method, url, status, bytes, client IP, user, response time (ms).
 * The client IP is `req.ip`: set `app.set('trust proxy', ...)` to the NGINX hops so it is the realip address.
 * A handler may set `res.locals.user` (string) to name the user.
 */
export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const requestId = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
    res.setHeader('X-Request-Id', requestId);
    (req as Request & { log: Logger }).log = logger.child({ requestId });
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info(
        {
          type: 'access',
          requestId,
          method: req.method,
          url: req.originalUrl,
          status: res.statusCode,
          bytes: Number(res.getHeader('content-length') ?? 0),
          ip: req.ip,
          user: res.locals.user ?? null,
          userAgent: req.headers['user-agent'],
          responseTimeMs: Math.round(ms * 1000) / 1000,
        },
        'request',
      );
    });
    next();
  };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time comparison of two secrets (hashing first makes lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** `Authorization: Bearer <token>` with a constant-time compare; 401 otherwise. */
export function requireBearer(token: string): RequestHandler {
  if (!token) throw new Error('requireBearer: empty token');
  return (req, res, next) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m || !safeEqual(m[1].trim(), token)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      next(new AppError('not_authenticated', 401, m ? 'Invalid bearer token.' : 'Missing bearer token.'));
      return;
    }
    next();
  };
}
