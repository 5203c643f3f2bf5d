import { AppError, type Logger } from '@forum/shared';
import { within, type Redis } from './redis.js';

/** A user's right to post now: taken for each post, given back when nothing was posted. */
export interface FloodSlots {
  /** false: the user posted less than the interval ago */
  take(userId: number): Promise<boolean>;
  /** never throws, never waits on a failing store */
  giveBack(userId: number): Promise<void>;
}

// Misago answers 403 (PermissionDenied), not 429; `code: flood` tells it from other refusals
const floodError = () => new AppError('flood', 403, "You can't post message so quickly after previous one.");

/**
 * Runs `write` holding the user's flood slot: refuses (403 flood) while the slot is taken, and gives it back when
 * `write` throws or `posted` says it wrote nothing, so a refused post does not make the user wait.
 */
export async function postHoldingFloodSlot<T>(slots: FloodSlots, userId: number, write: () => Promise<T>, posted: (result: T) => boolean): Promise<T> {
  if (!(await slots.take(userId))) throw floodError();
  let result: T;
  try {
    result = await write();
  } catch (err) {
    await slots.giveBack(userId);
    throw err;
  }
  if (!posted(result)) await slots.giveBack(userId);
  return result;
}

/**
 * Misago's flood protection in Redis: one post per user per `intervalMs` (0 turns it off). It fails OPEN: while
 * Redis fails over (no answer in 500 ms) the post goes through unthrottled for those seconds rather than writes
 * pausing; flooding is a nuisance, not a security boundary (login brute force fails closed).
 */
export function redisFloodSlots(redis: Redis, intervalMs: number, logger: Logger): FloodSlots {
  const key = (userId: number) => `flood:${userId}`;
  return {
    async take(userId) {
      if (intervalMs <= 0) return true;
      try {
        return (await within(redis.set(key(userId), '1', 'PX', intervalMs, 'NX'), 500)) === 'OK';
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'flood check skipped: Redis unavailable');
        return true;
      }
    },
    async giveBack(userId) {
      if (intervalMs <= 0) return;
      await within(redis.del(key(userId)), 500).catch(() => undefined);
    },
  };
}
