import type { Request, RequestHandler, Response } from 'express';
import { asyncHandler, type Logger } from '@forum/shared';
import type { PageCache, Refresh, Ticket } from './cache.js';
import { currentUser, type SessionUser } from './session.js';

/** Where a guest page lives in the PageCache. */
export interface Slot {
  flightKey: string;
  get(): Buffer | undefined;
  set(body: Buffer, t: Ticket, refresh: Refresh): void;
  /** true while nothing invalidated the page since the ticket was taken */
  unchanged(t: Ticket): boolean;
}

/** A page of one thread (`key`: `thread`, `posts:<page>`); the fast path (fastpath.ts) reads the same keys. */
export const threadSlot = (cache: PageCache, id: number, key: string): Slot => ({
  flightKey: `t|${id}|${key}`,
  get: () => cache.getThread(id, key),
  set: (b, t, refresh) => cache.setThread(id, key, b, t, refresh),
  unchanged: (t) => cache.threadUnchanged(id, t),
});

export const listSlot = (cache: PageCache, key: string): Slot => ({
  flightKey: `l|${key}`,
  get: () => cache.getList(key),
  set: (b, t, refresh) => cache.setList(key, b, t, refresh),
  unchanged: (t) => cache.listsUnchanged(t),
});

/**
 * The guest body of a page through one shared build: a guest arriving after an invalidation never joins a build
 * that began before it; the body is stored unless the page was invalidated while it was being built (the ticket),
 * with this same build as its refresh-ahead.
 */
function guestBuild(cache: PageCache, logger: Logger, slot: Slot, build: () => Promise<unknown>): Promise<Buffer> {
  const inFlight = cache.flights;
  const current = inFlight.get(slot.flightKey);
  if (current && slot.unchanged(current.ticket)) return current.body;
  const ticket = cache.ticket();
  const body = build().then((page) => {
    const b = Buffer.from(JSON.stringify(page));
    slot.set(b, ticket, () => {
      guestBuild(cache, logger, slot, build).catch((err: Error) => logger.warn({ err: err.message, page: slot.flightKey }, 'page refresh failed'));
    });
    return b;
  });
  const f = { ticket, body };
  inFlight.set(slot.flightKey, f);
  const done = () => {
    if (inFlight.get(slot.flightKey) === f) inFlight.delete(slot.flightKey);
  };
  body.then(done, done);
  return body;
}

/** Sends pre-serialized JSON (from the guest micro-cache or just built for it). */
function sendBody(res: Response, body: Buffer): void {
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  res.end(body);
}

/** What a page route reads from its request: where its guest body is cached and how the page is built. */
export interface Page {
  slot: Slot;
  build: () => Promise<unknown>;
}

/**
 * A GET answered as a page. `page` reads the request (its refusals come before any build); guests get the cached
 * body when fresh, else the shared build's; signed-in users are never cached (per-user fields, read-your-own-writes)
 * and get `build()` as JSON.
 */
export function pageRoute(deps: { cache: PageCache; logger: Logger }, page: (req: Request, viewer: SessionUser | undefined) => Page): RequestHandler {
  return asyncHandler(async (req, res) => {
    const viewer = currentUser(res);
    const { slot, build } = page(req, viewer);
    if (viewer) {
      res.json(await build());
      return;
    }
    const hit = slot.get();
    if (hit) return sendBody(res, hit);
    sendBody(res, await guestBuild(deps.cache, deps.logger, slot, build));
  });
}
