import { AppError, type Logger } from '@forum/shared';
import { RULES } from './forum-rules.js';
import { within, type Redis } from './redis.js';

const WINDOW_MS = RULES.bruteforceWindowSeconds * 1000;
const failuresKey = (ip: string) => `login:failures:${ip}`;

/**
 * Failed logins per client IP in a 30 s sliding window (a Redis sorted set). The 8th failure answers 429 and
 * emits `login_bruteforce` (pino line + the `security:events` stream that ipblock consumes); further attempts
 * inside the window get 429 without the password being checked.
 */
export class LoginGuard {
  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {}

  /** Refuses (429) an address that failed too often in the window. */
  async ensureNotLockedOut(ip: string): Promise<void> {
    const res = await closed(this.window(ip, Date.now()).zcard(failuresKey(ip)).exec());
    if (Number(res?.[1]?.[1] ?? 0) >= RULES.bruteforceFailures) throw tooMany();
  }

  /** Counts a failure; the one that reaches the limit announces the brute force and answers 429. */
  async recordFailure(ip: string): Promise<void> {
    const key = failuresKey(ip);
    const now = Date.now();
    const res = await closed(
      this.window(ip, now)
        .zadd(key, now, `${now}-${Math.random().toString(36).slice(2, 10)}`)
        .zcard(key)
        .pexpire(key, WINDOW_MS)
        .exec(),
    );
    const failures = Number(res?.[2]?.[1] ?? 0);
    if (failures < RULES.bruteforceFailures) return;
    await this.emitBruteforce(ip, failures);
    throw tooMany();
  }

  /** A transaction on the address's failures that first drops those older than the window. */
  private window(ip: string, now: number) {
    return this.redis.multi().zremrangebyscore(failuresKey(ip), 0, now - WINDOW_MS);
  }

  private async emitBruteforce(ip: string, failures: number): Promise<void> {
    // once per window per IP, however many more attempts follow
    const first = await this.redis.set(`login:bruteforce-emitted:${ip}`, '1', 'EX', RULES.bruteforceWindowSeconds, 'NX');
    if (first !== 'OK') return;
    const windowSeconds = RULES.bruteforceWindowSeconds;
    this.logger.warn({ event: 'login_bruteforce', ip, failures, windowSeconds }, 'login brute force detected');
    await this.redis.xadd(
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
}

const tooMany = () =>
  new AppError('too_many_login_attempts', 429, 'Too many failed login attempts from your address. Try again later.', true, {
    retryAfter: RULES.bruteforceWindowSeconds,
  });

/**
 * The counter fails CLOSED: a login whose failures cannot be counted (Redis failing over) answers 503 with
 * Retry-After instead of checking the password uncounted. A multi() whose commands failed inside resolves with
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
