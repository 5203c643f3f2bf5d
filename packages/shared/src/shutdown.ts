import type { Server } from 'node:http';
import type { Logger } from 'pino';

export interface ShutdownOptions {
  /** Hard deadline; keep it below Swarm's stop_grace_period (10 s default). */
  timeoutMs?: number;
  /** Closers run after the HTTP server stopped accepting (pools, queues, clients). */
  onClose?: Array<() => Promise<unknown> | unknown>;
  logger: Logger;
}

/**
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close dependencies, exit 0;
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
