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

export const conflict = (detail: string, code = 'conflict', extra: Record<string, unknown> = {}) => new AppError(code, 409, detail, true, extra);

/** Maps failures of infrastructure we depend on to precise statuses instead of a blanket 500. */
function classify(err: unknown): AppError {
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
  // PostgreSQL / pgpool overload and connection failures: the caller may retry
  if (e?.code === '53300' || e?.code === '57P03' || e?.code === 'ECONNREFUSED' || e?.code === 'ETIMEDOUT')
    return new AppError('service_unavailable', 503, 'A backing service is temporarily unavailable, retry shortly.', true);
  if (e?.code === '57014') return new AppError('timeout', 504, 'The operation timed out.', true);
  return new AppError('internal_error', 500, 'Internal server error.', false);
}

/** Express error middleware: logs once (with stack for non-operational errors) and answers Django-style `{detail, code}`
 * (DRF's per-field lists for `fieldErrors`; `extra.body` when the answer's whole shape is fixed, e.g. Misago's PATCH). */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const appErr = classify(err);
    const log = (req as { log?: Logger }).log ?? logger;
    if (appErr.operational) log.info({ code: appErr.code, status: appErr.status }, appErr.detail);
    else log.error({ err }, 'unhandled error');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (appErr.status === 429 && appErr.extra.retryAfter !== undefined) res.setHeader('Retry-After', String(appErr.extra.retryAfter));
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
