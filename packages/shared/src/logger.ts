import { pino, type Logger, type LoggerOptions } from 'pino';

/** Paths that must never reach a log line. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrftoken"]',
  'headers.authorization',
  'headers.cookie',
  'connectionString',
  '*.connectionString',
];

export function createLogger(service: string, opts: LoggerOptions = {}): Logger {
  return pino({
    level: process.env.LOG_LEVEL ?? 'info',
    base: { service, host: process.env.HOSTNAME },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    ...opts,
  });
}
export type { Logger };
