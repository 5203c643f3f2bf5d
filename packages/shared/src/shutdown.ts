import type { Server } from 'node:http';
import type { Logger } from 'pino';

export interface ShutdownOptions {
  /** Hard deadline; keep it below Swarm's stop_grace_period (10 s default). */
  timeoutMs?: number;
  /**
   * How long the servers keep accepting after the signal, answering every response with `Connection: close`, before
   * they stop listening. For a service behind a proxy that learns its upstreams from DNS (NGINX via nginx-agent,
   * which polls every 2 s and then reloads): Swarm drops the task from DNS as it signals it, so the proxy keeps
   * sending here for a few seconds. Closing idle keep-alive connections at once races the proxy, which may be
   * writing a request into one of them just then: a POST lost that way is not retried (it may have arrived) and
   * becomes a 502. With the delay, each connection closes after a complete response, and new ones still connect.
   * The price: every stop takes this much longer. 0 (default): stop listening at once.
   */
  deregisterMs?: number;
  /** Closers run after the HTTP server stopped accepting (pools, queues, clients). */
  onClose?: Array<() => Promise<unknown> | unknown>;
  logger: Logger;
}

/**
 * SIGTERM/SIGINT: (after deregisterMs) stop accepting, let in-flight requests finish, close dependencies, exit 0;
 * exit 1 if that takes longer than `timeoutMs`. Returns `isDraining()` for readiness checks.
 */
export function installGracefulShutdown(servers: Server[], opts: ShutdownOptions): { isDraining: () => boolean; shutdown: (signal: string) => Promise<void> } {
  const timeoutMs = opts.timeoutMs ?? 8000;
  let draining = false;
  const shutdown = async (signal: string) => {
    if (draining) return;
    draining = true;
    opts.logger.info({ signal }, 'shutting down: draining in-flight requests');
    const timer = setTimeout(() => {
      opts.logger.error({ timeoutMs }, 'shutdown deadline passed, exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    // from now on a response ends its connection: nothing idles in a keep-alive pool that close() would cut (added
    // here, not at start-up, so requests before the signal pay nothing for it)
    for (const s of servers) s.prependListener('request', (_req, res) => res.setHeader('Connection', 'close'));
    if (opts.deregisterMs) await new Promise((r) => setTimeout(r, opts.deregisterMs));
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            // keep-alive sockets that finish a request after close() began become idle later: sweep them until closed
            const sweep = setInterval(() => s.closeIdleConnections?.(), 100);
            s.close(() => {
              clearInterval(sweep);
              resolve();
            });
            s.closeIdleConnections?.();
          }),
      ),
    );
    for (const close of opts.onClose ?? []) {
      try {
        await close();
      } catch (err) {
        opts.logger.warn({ err }, 'error while closing a dependency');
      }
    }
    opts.logger.info('shutdown complete');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  return { isDraining: () => draining, shutdown };
}
