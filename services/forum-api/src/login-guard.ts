import { AppError, type Logger } from '@forum/shared';
import { RULES } from './forum-rules.js';
import { within, type Redis } from './redis.js';

/** The two limits of login attempts (the per-address one is `RULES.bruteforce*`, shared with sla-rules.yml). */
export interface LoginLimits {
  /** The attempt from one address that reaches this count is refused and reported (`login_bruteforce`). */
  ipAttempts: number;
  ipWindowSeconds: number;
  /** At most this many passwords of one account are checked per window, from any number of addresses. */
  accountAttempts: number;
  accountWindowSeconds: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  ipAttempts: RULES.bruteforceFailures,
  ipWindowSeconds: RULES.bruteforceWindowSeconds,
  accountAttempts: 20,
  accountWindowSeconds: 600,
};

/** What a login is counted against: the client address, the account as typed (normalised), and the pair. */
export interface LoginAttempt {
  ip: string;
  account: string;
}

/** Usernames and e-mails are matched case-insensitively (user-store.ts findLogin): so is the counter. */
export const normaliseAccount = (login: string): string => login.normalize('NFKC').trim().toLowerCase();

const keys = ({ ip, account }: LoginAttempt) => {
  const acct = normaliseAccount(account);
  return [`login:attempts:ip:${ip}`, `login:attempts:account:${acct}`, `login:attempts:ip-account:${ip}|${acct}`];
};

// One atomic step per attempt, BEFORE the password is checked (so parallel attempts cannot all pass a check made
// before any of them was recorded). Fixed windows: a counter's TTL is set by its first attempt and never extended,
// so a lockout ends at its window's end however hard an attacker keeps trying. An attempt the address limit refuses
// is not charged to the account: one address cannot lock an account out by itself.
// Returns {verdict, count, ttl ms}: verdict 'ip' | 'account' | 'ok'.
const ATTEMPT_LUA = `
local function hit(key, ms)
  local n = redis.call('INCR', key)
  if n == 1 or redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ms) end
  return n
end
local ip = hit(KEYS[1], ARGV[2])
if ip >= tonumber(ARGV[1]) then return {'ip', ip, redis.call('PTTL', KEYS[1])} end
local acct = hit(KEYS[2], ARGV[4])
hit(KEYS[3], ARGV[4])
if acct > tonumber(ARGV[3]) then return {'account', acct, redis.call('PTTL', KEYS[2])} end
return {'ok', ip, 0}
`;

// A successful login gives back what this address spent on this account (its earlier typos too) to both counters:
// a user who mistyped a few times is not left near either limit. Only the pair's own attempts are given back, so
// knowing one account's password does not buy guesses at another.
const REFUND_LUA = `
local n = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('DEL', KEYS[3])
if n <= 0 then return 0 end
for i = 1, 2 do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0')
  if v > 0 then
    if v <= n then redis.call('DEL', KEYS[i]) else redis.call('DECRBY', KEYS[i], n) end
  end
end
return n
`;

/**
 * Login attempts per client address and per account, counted in Redis before the password is checked. The attempt
 * that reaches `ipAttempts` from one address within `ipWindowSeconds` is refused with 429 and emits
 * `login_bruteforce` (pino line + the `security:events` stream that ipblock consumes, which blocks the address at
 * the edge); later ones inside the window get 429 without a check. More than `accountAttempts` at one account
 * within `accountWindowSeconds`, from any addresses, are refused with 429 `too_many_account_login_attempts`.
 */
export class LoginGuard {
  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
  ) {}

  /** Counts an attempt; throws 429 when it is over a limit (the password must then not be checked). */
  async attempt(a: LoginAttempt): Promise<void> {
    const l = this.limits;
    const res = (await closed(
      this.redis.eval(ATTEMPT_LUA, 3, ...keys(a), l.ipAttempts, l.ipWindowSeconds * 1000, l.accountAttempts, l.accountWindowSeconds * 1000),
    )) as [string, number, number];
    const [verdict, count, ttlMs] = res;
    if (verdict === 'ok') return;
    const retryAfter = Math.max(1, Math.ceil(Number(ttlMs) / 1000));
    if (verdict === 'ip') {
      // exactly once per window: only one attempt sees the count reach the limit
      if (count === l.ipAttempts) await this.emitBruteforce(a.ip, count);
      throw tooManyFromAddress(retryAfter);
    }
    if (count === l.accountAttempts + 1) {
      this.logger.warn(
        { event: 'login_account_limited', ip: a.ip, attempts: count - 1, windowSeconds: l.accountWindowSeconds },
        'login attempts at one account over its limit',
      );
    }
    throw tooManyForAccount(retryAfter);
  }

  /** After a successful login: this address's attempts at this account no longer count. Best effort. */
  async succeeded(a: LoginAttempt): Promise<void> {
    try {
      await within(this.redis.eval(REFUND_LUA, 3, ...keys(a)), 2000);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'login counters not reset after a successful login');
    }
  }

  private async emitBruteforce(ip: string, failures: number): Promise<void> {
    const windowSeconds = this.limits.ipWindowSeconds;
    this.logger.warn({ event: 'login_bruteforce', ip, failures, windowSeconds }, 'login brute force detected');
    try {
      await within(
        this.redis.xadd(
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
        ),
        2000,
      );
    } catch (err) {
      // the 429 stands; the edge block is what is lost (the Watcher/Kibana rule on the access logs still sees it)
      this.logger.error({ err: (err as Error).message, ip }, 'login_bruteforce event not written to security:events');
    }
  }
}

const tooManyFromAddress = (retryAfter: number) =>
  new AppError('too_many_login_attempts', 429, 'Too many failed login attempts from your address. Try again later.', true, { retryAfter });

const tooManyForAccount = (retryAfter: number) =>
  new AppError('too_many_account_login_attempts', 429, 'Too many login attempts for this account. Try again later.', true, {
    retryAfter,
  });

/**
 * The counter fails CLOSED: a login whose attempt cannot be counted (Redis failing over) answers 503 with
 * Retry-After instead of checking the password uncounted (an outage must not open an unthrottled guessing window).
 */
async function closed<T>(p: Promise<T>): Promise<T> {
  try {
    return await within(p, 2000);
  } catch {
    throw new AppError('service_unavailable', 503, 'Sign-in is temporarily unavailable, retry shortly.');
  }
}
