import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import type { RequestHandler, Request } from 'express';
import type { Logger } from 'pino';
import { AppError } from './errors.js';

/** The fields of an access line (one per request); `responseTimeMs` is computed from `started`. */
export interface AccessEntry {
  requestId: string;
  method: string | undefined;
  url: string | undefined;
  status: number;
  bytes: number;
  /** the client address, or a function that computes it: called only when the line is written */
  ip: string | undefined | (() => string | undefined);
  user: string | null;
  userAgent: string | undefined;
  /** process.hrtime.bigint() when the request arrived */
  started: bigint;
}

/**
 * Which requests get an access line. `all`: every request. `errors`: only server errors (status >= 500) and requests
 * slower than `slowMs`. With `errors`, every request is still logged once, by NGINX (its access line carries the same
 * request id and the user, configs/nginx/nginx.conf): a second line per request from the api cost a JSON write to
 * stdout, dockerd's json-file write and the log-shipper's read for nothing that NGINX's line lacks (BENCHMARKS.md,
 * efficiency). The api's own error lines (errorMiddleware) are written either way.
 */
export interface AccessLogPolicy {
  mode: 'all' | 'errors';
  slowMs: number;
}

/** ACCESS_LOG (all | errors, default all) and ACCESS_LOG_SLOW_MS (default 500), read once. */
export function accessLogPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): AccessLogPolicy {
  const mode = env.ACCESS_LOG === 'errors' ? 'errors' : 'all';
  const slow = env.ACCESS_LOG_SLOW_MS ? Number(env.ACCESS_LOG_SLOW_MS) : NaN;
  return { mode, slowMs: Number.isFinite(slow) && slow >= 0 ? slow : 500 };
}

/** Whether a finished request gets an access line under `policy`. */
export function wantsAccessLine(policy: AccessLogPolicy, status: number, ms: number): boolean {
  return policy.mode === 'all' || status >= 500 || ms >= policy.slowMs;
}

const envPolicy = accessLogPolicyFromEnv();

const accessLoggers = new WeakMap<Logger, Logger>();

/**
 * The logger access lines go through: a child of `logger` (same level, bindings, time and level format, same
 * destination) WITHOUT redaction. An access line has only the fixed primitive fields of AccessEntry, none of which is
 * a redacted path, so redaction could never change it; it cost about 10 us a line (most of the line's price).
 */
export function accessLogger(logger: Logger): Logger {
  let l = accessLoggers.get(logger);
  if (!l) {
    l = logger.child({}, { redact: { paths: [] } });
    accessLoggers.set(logger, l);
  }
  return l;
}

/** Writes one access line (`type: "access"`, message "request") through an `accessLogger(...)`, if `policy` wants it. */
export function writeAccessLine(access: Logger, e: AccessEntry, policy: AccessLogPolicy = envPolicy): void {
  const ms = Number(process.hrtime.bigint() - e.started) / 1e6;
  if (!wantsAccessLine(policy, e.status, ms)) return;
  access.info(
    {
      type: 'access',
      requestId: e.requestId,
      method: e.method,
      url: e.url,
      status: e.status,
      bytes: e.bytes,
      ip: typeof e.ip === 'function' ? e.ip() : e.ip,
      user: e.user,
      userAgent: e.userAgent,
      responseTimeMs: Math.round(ms * 1000) / 1000,
    },
    'request',
  );
}

/**
 * One pino JSON line per request (as `policy` wants: default ACCESS_LOG from the environment): method, url, status,
 * bytes, client IP, user, response time (ms).
 * The client IP is `req.ip`: set `app.set('trust proxy', ...)` to the NGINX hops so it is the realip address.
 * A handler may set `res.locals.user` (string) to name the user.
 */
export function accessLog(logger: Logger, policy: AccessLogPolicy = envPolicy): RequestHandler {
  const access = accessLogger(logger);
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const requestId = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
    res.setHeader('X-Request-Id', requestId);
    (req as Request & { log: Logger }).log = logger.child({ requestId });
    res.on('finish', () => {
      writeAccessLine(
        access,
        {
          requestId,
          method: req.method,
          url: req.originalUrl,
          status: res.statusCode,
          bytes: Number(res.getHeader('content-length') ?? 0),
          ip: req.ip,
          user: res.locals.user ?? null,
          userAgent: req.headers['user-agent'],
          started,
        },
        policy,
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

const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'Payload Too Large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
};

/**
 * Answers requests Node's HTTP parser refuses (unknown method, malformed request line, header or framing) with a JSON
 * 400 (431, 413, 408) and a clean close. Node's default writes its 400 and destroys the socket at once; with the rest
 * of the request body still unread the kernel then resets the connection, and over the overlay network NGINX lost the
 * answer to that reset and told its client 502/503 ("readv() failed (104) while reading upstream"). Here the answer
 * is sent with our end of the connection closed (FIN), and what the peer still sends is read and dropped until it
 * closes too, at most `drainMs` (a peer that never stops is cut off then).
 */
export function answerClientErrors(server: import('node:http').Server, drainMs = 10_000): void {
  const answered = new WeakSet<object>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => {
    // the parser reports every later chunk of the same connection again: answer once
    if (answered.has(socket)) return;
    answered.add(socket);
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'Bad Request'];
    const body = JSON.stringify({ detail: `Malformed HTTP request (${err.code ?? 'parse error'}).`, code: 'bad_request' });
    // A response already under way on this connection cannot be followed by another: just close. Bytes written are
    // no measure: a kept-alive connection (NGINX's) carries earlier responses, and closing it unanswered made NGINX
    // count the task as failed. Node's own handler asks the same of the connection's current response.
    const current = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    socket.end(
      current?.headersSent
        ? undefined
        : `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    socket.on('error', () => undefined);
    socket.resume();
    const cutoff = setTimeout(() => socket.destroy(), drainMs);
    cutoff.unref();
    socket.once('close', () => clearTimeout(cutoff));
  });
}
