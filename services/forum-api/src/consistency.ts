import type { RequestHandler } from 'express';
import { parseLsn, readScope, type ReadScope } from './db.js';
import { parseCookies, secureCookie } from './session.js';

/** The cookie that carries the WAL position of this client's last write (hex "X/Y", as PostgreSQL prints an LSN). */
export const WRITE_LSN_COOKIE = 'wlsn';
/** Long past any replication lag: after this a standby has the write whatever happens. */
const WRITE_LSN_MAX_AGE_MS = 10 * 60_000;

/**
 * Read-your-writes across a failover (docs/DATA-TIER.md "During a failover"). After a request's write commits, the
 * primary's WAL position goes to the client in a cookie; while the primary is away, the client's reads are answered
 * by a standby that has replayed that position (db.ts, DirectNodes), waiting up to PG_STANDBY_WAIT_MS, else by the
 * most advanced node with `X-Stale: 1`. A cookie, not Redis or memory: it reaches whichever api task the next request
 * goes to, needs no store that may itself be failing over, and a forged value only changes how long a read waits.
 */
export function consistencyMiddleware(secureCookies: boolean): RequestHandler {
  return (req, res, next) => {
    const raw = req.headers.cookie?.includes(`${WRITE_LSN_COOKIE}=`) ? parseCookies(req.headers.cookie)[WRITE_LSN_COOKIE] : undefined;
    let value: string | undefined;
    try {
      value = raw === undefined ? undefined : decodeURIComponent(raw); // Express encodes the "/" of an LSN
    } catch {
      value = undefined;
    }
    const scope: ReadScope = {
      minLsn: parseLsn(value),
      stale: () => {
        if (!res.headersSent) res.setHeader('X-Stale', '1');
      },
      wrote: (lsn) => {
        if (res.headersSent || !parseLsn(lsn)) return;
        scope.minLsn = parseLsn(lsn);
        res.cookie(WRITE_LSN_COOKIE, lsn, {
          httpOnly: true,
          sameSite: 'lax',
          secure: secureCookie(res, secureCookies),
          path: '/',
          maxAge: WRITE_LSN_MAX_AGE_MS,
        });
      },
    };
    readScope.run(scope, next);
  };
}
