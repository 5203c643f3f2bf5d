import argon2 from 'argon2';
import { AppError } from '@forum/shared';

// OWASP's argon2id minimum (19 MiB, t=2, p=1): ~20 ms here, so logins don't starve the event loop's pool
const OPTS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * Bounded argon2 work per api task: at most `concurrency` hashes or verifications run at once and at most `queue` wait;
 * one more answers 503 + Retry-After at once. Unbounded, a burst of sign-ups or logins from many addresses (each
 * under the edge's per-address limits) queued 19 MiB and ~20 ms of a core per request on libuv's pool of 4 threads,
 * which the api's DNS lookups and file reads share, so every route slowed with it. The price: in such a burst some
 * honest sign-ins are told to retry a second later. Defaults: 2 at once (half the pool), 64 waiting (~1 s of work).
 */
export class WorkGate {
  private running = 0;
  private waiting: (() => void)[] = [];
  constructor(
    private concurrency: number,
    private queue: number,
  ) {}
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) {
        throw new AppError('password_work_busy', 503, 'Too many sign-ins at this moment; retry in a second.', true, { retryAfter: 1 });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await work();
    } finally {
      // hand the slot straight to the next waiter (running stays the same), else free it
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
  get stats() {
    return { running: this.running, waiting: this.waiting.length };
  }
}

let gate = new WorkGate(2, 64);
/** Sets the bound (from the service's config at start-up: ARGON2_CONCURRENCY, ARGON2_QUEUE). */
export function boundPasswordWork(concurrency: number, queue: number): void {
  gate = new WorkGate(concurrency, queue);
}

export const hashPassword = (password: string) => gate.run(() => argon2.hash(password, OPTS));

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  return gate.run(async () => {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  });
}

/** A hash to verify against when the user does not exist, so timing does not reveal valid usernames. */
let dummy: Promise<string> | undefined;
export const dummyHash = () => (dummy ??= argon2.hash('not-a-real-password-0', OPTS));
