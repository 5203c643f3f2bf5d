import { Redis } from 'ioredis';
import type { Logger } from '@forum/shared';

/**
 * A Redis client for REDIS_URL (HAProxy in the stack, which always points at the current master).
 * Request-path commands fail fast (few retries) so a Redis outage becomes a 503, not a hung request;
 * the connection itself keeps reconnecting forever, which is what carries us over a Sentinel failover.
 */
export function createRedis(url: string, password: string | undefined, logger: Logger, opts: { blocking?: boolean; username?: string } = {}): Redis {
  const client = new Redis(url, {
    // the ACL user (REDIS_USER) goes here, not in the URL: ioredis lets a URL's empty password override this one
    username: opts.username || undefined,
    password: password || undefined,
    maxRetriesPerRequest: opts.blocking ? null : 2,
    connectTimeout: 3000,
    // a connection that HAProxy no longer forwards (its master died and the session was not cut) never answers:
    // without this, commands on it hang forever (seen in the Redis-master drill). Any pending command with no
    // reply for 3 s destroys the socket and reconnects; BLOCK waits (1 s, jobs.ts) stay below it.
    socketTimeout: 3000,
    // TCP keepalive from 2 s idle (probe interval/count come from the stack's sysctls): an idle connection through
    // a killed redis-proxy task is dropped and re-made in seconds, not when the next command hangs on it
    keepAlive: 2000,
    enableReadyCheck: true,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    // a demoted master (or a replica a just-started HAProxy routed us to before its first health check marked it
    // down) answers READONLY: reconnect so HAProxy routes us to the master, and resend that command (2)
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
  });
  let lastLogged = 0;
  client.on('error', (err) => {
    const now = Date.now();
    if (now - lastLogged > 5000) {
      lastLogged = now;
      logger.warn({ err: err.message }, 'redis connection error');
    }
  });
  return client;
}
export type { Redis };

/** Error of `within`: Redis did not answer in time (a failover in progress, or a connection through a dead proxy). */
export class RedisTimeout extends Error {
  constructor(ms: number) {
    super(`Redis did not answer within ${ms} ms`);
    this.name = 'RedisTimeout';
  }
}

/**
 * A Redis command's answer, or a RedisTimeout after `ms`: request paths never wait out ioredis's reconnects (a
 * command queued while Redis fails over waits seconds). The command itself may still run later; callers only use
 * this for commands that are harmless when repeated or late (reads, DEL, PUBLISH, XADD of idempotent jobs).
 */
export function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  p.catch(() => undefined);
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisTimeout(ms)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
