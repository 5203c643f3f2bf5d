import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';
import { accessLogger, writeAccessLine, type Logger, type ServiceMetrics } from '@forum/shared';
import type { PageCache } from './cache.js';
import { CSRF_COOKIE, CSRF_RE, parseCookies, SESSION_COOKIE } from './session.js';

// Only the canonical forms the express routes would key the same way (`posts:<page>`, `thread`).
const POSTS_RE = /^\/api\/threads\/([1-9]\d{0,9})\/posts\/(?:\?page=([1-9]\d{0,5}))?$/;
const THREAD_RE = /^\/api\/threads\/([1-9]\d{0,9})\/$/;
const POSTS_ROUTE = '/api/threads/:id/posts/';
const THREAD_ROUTE = '/api/threads/:id/';

/**
 * The guests' hot path without Express: a GET of a thread page or thread object whose serialized JSON is in the
 * page cache, from a browser that carries a valid `csrftoken` cookie and no `sessionid` cookie, is answered here
 * with exactly what the Express route would send (same body, Content-Type, X-Request-Id, one access line, the
 * route's histogram). Anything else (a miss, a session cookie, no CSRF cookie yet, other methods or query strings)
 * returns false and goes through Express unchanged. Express's middleware chain cost more CPU than the cached
 * answer itself (docs/API-DECISIONS.md, "Guests' page cache").
 */
export function guestFastPath(app: Express, cache: PageCache, metrics: ServiceMetrics, logger: Logger): (req: IncomingMessage, res: ServerResponse) => boolean {
  const access = accessLogger(logger);
  const histogram = metrics.httpDuration;
  return (req, res) => {
    if (req.method !== 'GET' || !cache.enabled) return false;
    const started = process.hrtime.bigint();
    const url = req.url ?? '';
    let key: string;
    let route: string;
    let m = POSTS_RE.exec(url);
    if (m) {
      key = `posts:${m[2] ?? '1'}`;
      route = POSTS_ROUTE;
    } else if ((m = THREAD_RE.exec(url))) {
      key = 'thread';
      route = THREAD_ROUTE;
    } else return false;
    const cookie = req.headers.cookie;
    // a session cookie (valid or not) is Express's business; no valid CSRF cookie: Express hands one out
    if (cookie === undefined || cookie.includes(`${SESSION_COOKIE}=`)) return false;
    const csrf = parseCookies(cookie)[CSRF_COOKIE];
    if (csrf === undefined || !CSRF_RE.test(csrf)) return false;
    const body = cache.getThread(Number(m[1]), key, false);
    if (!body) return false;

    return answer(app, access, histogram, req, res, { body, route, url, started });
  };
}

const HEALTH_BODY = Buffer.from(JSON.stringify({ status: 'OK' }));
const HEALTH_ROUTE = '/healthcheck/';

/**
 * `GET /healthcheck/` (liveness: the process can serve) without Express, answered exactly as the shared health
 * router answers it (same body, Content-Type, X-Request-Id, the route's histogram, an access line under the
 * ACCESS_LOG policy). It is what NGINX, Docker's healthcheck and the edge benchmark hit most, and Express's
 * middleware chain cost several times the answer (BENCHMARKS.md, efficiency). Anything else returns false and goes through Express.
 */
export function healthFastPath(app: Express, metrics: ServiceMetrics, logger: Logger): (req: IncomingMessage, res: ServerResponse) => boolean {
  const access = accessLogger(logger);
  const histogram = metrics.httpDuration;
  return (req, res) => {
    if (req.method !== 'GET' || req.url !== HEALTH_ROUTE) return false;
    const started = process.hrtime.bigint();
    return answer(app, access, histogram, req, res, { body: HEALTH_BODY, route: HEALTH_ROUTE, url: HEALTH_ROUTE, started });
  };
}

/**
 * Sends a 200 JSON `body` exactly as the Express route would (X-Request-Id echoed or made, Content-Type, the route's
 * histogram, one access line under the ACCESS_LOG policy). False, with nothing sent, when node refuses to echo the
 * request id: Express then answers (and logs) it as it always did.
 */
function answer(
  app: Express,
  access: ReturnType<typeof accessLogger>,
  histogram: ServiceMetrics['httpDuration'],
  req: IncomingMessage,
  res: ServerResponse,
  a: { body: Buffer; route: string; url: string; started: bigint },
): boolean {
  const requestId = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
  try {
    res.setHeader('X-Request-Id', requestId);
  } catch {
    return false;
  }
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', a.body.length);
  res.end(a.body);
  histogram.observe({ method: 'GET', route: a.route, status: '200' }, Number(process.hrtime.bigint() - a.started) / 1e9);
  writeAccessLine(access, {
    requestId,
    method: 'GET',
    url: a.url,
    status: 200,
    bytes: a.body.length,
    // req.ip exactly as Express computes it (the app's `trust proxy` setting): req gets the app's request prototype,
    // as Express's own init middleware does, only when a line is written (changing an object's prototype is not free,
    // and the default ACCESS_LOG policy writes no line for a fast 200)
    ip: () => {
      Object.setPrototypeOf(req, app.request);
      return (req as unknown as { ip: string | undefined }).ip;
    },
    user: null,
    userAgent: req.headers['user-agent'],
    started: a.started,
  });
  return true;
}
