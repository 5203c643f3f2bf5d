import type { Logger } from '@forum/shared';
import type { Config } from './config.js';
import type { Db } from './db.js';
import type { Redis } from './redis.js';
import type { Sessions } from './session.js';
import type { Job } from './jobs.js';
import type { CacheBus, PageCache } from './cache.js';
import type { CategoryStore } from './categories.js';

export interface Ctx {
  cfg: Pick<Config, 'FLOOD_INTERVAL_MS'>;
  db: Db;
  redis: Redis;
  sessions: Sessions;
  logger: Logger;
  cache: PageCache;
  /** the category tree thread pages carry (cached a few seconds) */
  categories: CategoryStore;
  /** Invalidates a thread's cached guest pages here and on every replica (after the write committed). */
  bus: CacheBus;
  /** Enqueue after commit; a failure is logged, never surfaced (the worker's sweep re-enqueues lost post jobs). */
  enqueue(job: Job): Promise<void>;
}
