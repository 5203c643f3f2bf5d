import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';

/** The one error type of every service: a machine code, an HTTP status and whether it is an expected (operational) failure. */
export class AppError extends Error {
  constructor(
    public readonly code: string,
    public readonly status: number,
    public readonly detail: string,
    public readonly operational = true,
    public readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = 'AppError';
  }
}

export const badRequest = (detail: string, code = 'invalid', extra: Record<string, unknown> = {}) => new AppError(code, 400, detail, true, extra);
export const notFound = (detail = 'Not found.', code = 'not_found') => new AppError(code, 404, detail);
export const forbidden = (detail: string, code = 'permission_denied') => new AppError(code, 403, detail);
export const unauthorized = (detail = 'Authentication credentials were not provided.', code = 'not_authenticated') => new AppError(code, 401, detail);
/**
 * DRF's validation answer: 400 with one list of messages per field (`non_field_errors` for the body as a whole), as
 * Django REST framework clients read it. `code` rides along as an extra key.
 */
export const fieldErrors = (fields: Record<string, string[]>, code = 'invalid') =>
  new AppError(code, 400, Object.values(fields).flat()[0] ?? 'Invalid input.', true, { fields });

/**
 * A client's value quoted for an error message: a string JSON-quoted and cut at `max` characters, anything else
 * named by its type. Never JSON.stringify of the value itself: a body of 10,000 nested arrays overflows its stack
 * (the autoscaler answered such a `service` 500, found by the edge fuzz), and a long one would fill the message.
 */
export function shown(value: unknown, max = 80): string {
  if (typeof value === 'string') return value.length > max ? `${JSON.stringify(value.slice(0, max))}...` : JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export const conflict = (detail: string, code = 'conflict', extra: Record<string, unknown> = {}) => new AppError(code, 409, detail, true, extra);

/** The backing services whose failures a service declares, so that they are answered by status (see dependencyError). */
export type Dependency = 'postgres' | 'redis';

/** Connection-class failures of PostgreSQL (through pgpool): the statement may not have run (pgpool restarts every child on a primary failover). */
export function isConnectionLoss(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && /^(08|57P0[123])/.test(e.code)) return true;
  // no connection was made: the member's name does not resolve (Swarm takes a stopped task out of DNS, e.g. a drained
  // node's pg-N, while the api still lists it) or its address is unreachable. Nothing ran, so the caller may retry;
  // it had become a 500 on reads in the cluster's maintenance drill (2026-12-06)
  if (typeof e?.code === 'string' && /^(ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH)$/.test(e.code)) return true;
  // the rest are pgpool's own: refusals while it fails a backend over, and (XX000, FATAL) "unable to read data from DB
  // node N" / "EOF encountered with backend" when a backend died under a statement (seen at a PG primary kill under
  // load, a fault run under load: it had become a 500); "failed to read kind from backend" when a drained standby
  // stopped under a balanced read (cluster maintenance drill, 2026-12-05: answered 500)
  return /Connection terminated|ECONNRESET|ECONNREFUSED|EPIPE|Client has encountered a connection error|server closed the connection|failed to create a backend connection|not accepting any new connections|executing failover|unable to read data from DB node|EOF encountered with backend|failed to read kind from backend/i.test(
    String(e?.message ?? ''),
  );
}

/** node-postgres could not get a connection within its connect timeout. */
export const isTimeoutToConnect = (err: unknown) => /timeout exceeded when trying to connect/.test(String((err as Error)?.message ?? ''));

const unavailable = (what: string) => new AppError('service_unavailable', 503, `${what} is temporarily unavailable, retry shortly.`);

/**
 * The one mapping of dependency failures to HTTP statuses, instead of a blanket 500. The rows of a declared
 * dependency come first: they know its errors by message too, which would be guesswork in a service that does not
 * use it (an ECONNRESET from a Docker or Slack call is not Redis). The last rows hold for every service.
 * Undefined: not a dependency failure.
 */
export function dependencyError(err: unknown, dependencies: readonly Dependency[] = []): AppError | undefined {
  const e = err as { name?: string; code?: string; message?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  const msg = String(e?.message ?? '');
  if (dependencies.includes('redis')) {
    if (e?.name === 'MaxRetriesPerRequestError' || e?.name === 'RedisTimeout' || /Connection is closed|Stream isn't writeable|ECONNRESET|EPIPE/.test(msg))
      return unavailable('Redis');
  }
  if (dependencies.includes('postgres')) {
    if (isConnectionLoss(err) || isTimeoutToConnect(err) || /^(08|57P0|53)/.test(code)) return unavailable('The database');
    // a read-only transaction: the request reached a standby (Pgpool without a primary for a moment)
    if (code === '25006') return new AppError('service_unavailable', 503, 'The database is failing over, retry shortly.');
    if (code === '40001' || code === '40P01') return new AppError('conflict_retry', 503, 'Concurrent update, retry.');
    if (code.startsWith('22')) return new AppError('invalid', 400, 'Invalid value in request.');
    if (code === '23505') return new AppError('conflict', 409, 'This already exists.');
    if (code === '23503') return new AppError('not_found', 404, 'A referenced object does not exist.');
  }
  // PostgreSQL / pgpool overload and connection failures: the caller may retry
  if (code === '53300' || code === '57P03' || code === 'ECONNREFUSED' || code === 'ETIMEDOUT')
    return new AppError('service_unavailable', 503, 'A backing service is temporarily unavailable, retry shortly.', true);
  if (code === '57014') return new AppError('timeout', 504, 'The operation timed out.', true);
  return undefined;
}

/** Maps an error to the answer: our own AppError as it is, request-parsing failures, then dependency failures; else 500. */
function classify(err: unknown, dependencies: readonly Dependency[]): AppError {
  if (err instanceof AppError) return err;
  const e = err as { type?: string; status?: number; statusCode?: number; code?: string; message?: string };
  // body-parser failures
  if (e?.type === 'entity.parse.failed') return new AppError('parse_error', 400, `JSON parse error: ${e.message}`);
  if (e?.type === 'entity.too.large') return new AppError('request_too_large', 413, 'Request body is too large.');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
    return new AppError('unsupported_media_type', 415, 'Unsupported request encoding.');
  if (e?.type === 'request.aborted') return new AppError('request_aborted', 400, 'Request aborted.');
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return new AppError('invalid', status, e.message ?? 'Bad request.');
  return dependencyError(err, dependencies) ?? new AppError('internal_error', 500, 'Internal server error.', false);
}

/** Express error middleware: logs once (with stack for non-operational errors) and answers Django-style `{detail, code}`
 * (DRF's per-field lists for `fieldErrors`; `extra.body` when the answer's whole shape is fixed, e.g. Misago's PATCH).
 * A service that declares `dependencies` has their failures mapped by dependencyError, and its every 503 tells the
 * client to try again in 2 s (a 503 there is a dependency failing over). */
export function errorMiddleware(logger: Logger, opts: { dependencies?: readonly Dependency[] } = {}): ErrorRequestHandler {
  const dependencies = opts.dependencies ?? [];
  return (err, req, res, _next) => {
    const appErr = classify(err, dependencies);
    const log = (req as { log?: Logger }).log ?? logger;
    // a dependency failure names its cause (the driver's code and first line), so a 503 in the logs says which
    // failure it was: the client's answer does not carry it
    const cause =
      appErr !== err && appErr.status >= 500
        ? {
            code: (err as { code?: unknown })?.code,
            message: String((err as Error)?.message ?? err)
              .split('\n')[0]
              .slice(0, 300),
          }
        : undefined;
    if (appErr.operational) log.info({ code: appErr.code, status: appErr.status, ...(cause && { cause }) }, appErr.detail);
    else log.error({ err }, 'unhandled error');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if ((appErr.status === 429 || appErr.status === 503) && appErr.extra.retryAfter !== undefined)
      res.setHeader('Retry-After', String(appErr.extra.retryAfter));
    else if (appErr.status === 503 && dependencies.length > 0) res.setHeader('Retry-After', '2');
    const { fields, body, ...extra } = appErr.extra as { fields?: Record<string, string[]>; body?: Record<string, unknown> };
    if (body) res.status(appErr.status).json(body);
    else if (fields) res.status(appErr.status).json({ ...fields, code: appErr.code });
    else res.status(appErr.status).json({ detail: appErr.detail, code: appErr.code, ...extra });
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) => next(new AppError('not_found', 404, `No route for ${req.method} ${req.path}`));

/** Wraps an async route handler so that rejections reach the error middleware. */
export const asyncHandler =
  <Req = Parameters<RequestHandler>[0]>(
    fn: (req: Req, res: Parameters<RequestHandler>[1], next: Parameters<RequestHandler>[2]) => Promise<unknown>,
  ): RequestHandler =>
  (req, res, next) => {
    fn(req as Req, res, next).catch(next);
  };
