import type { Logger } from '@forum/shared';
import type { Db } from './db.js';
import type { Redis } from './redis.js';
import type { Sessions } from './session.js';
import type { Job } from './jobs.js';
import type { CacheBus, PageCache } from './cache.js';
import type { CategoryStore } from './categories.js';
import type { FloodSlots } from './flood.js';
import type { LoginGuard } from './login-guard.js';

export interface Ctx {
  db: Db;
  redis: Redis;
  sessions: Sessions;
  logger: Logger;
  cache: PageCache;
  /** one post per user per FLOOD_INTERVAL_MS */
  flood: FloodSlots;
  /** login attempts per client IP and per account (brute-force limits) */
  logins: LoginGuard;
  /** the category tree thread pages carry (cached a few seconds) */
  categories: CategoryStore;
  /** Invalidates a thread's cached guest pages here and on every replica (after the write committed). */
  bus: CacheBus;
  /** Enqueue after commit; a failure is logged, never surfaced (the worker's sweep re-enqueues lost post jobs). */
  enqueue(job: Job): Promise<void>;
}
