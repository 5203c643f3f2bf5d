import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createLogger } from '@forum/shared';
import { loadAgentConfig } from './config.js';
import { BlocklistAgent } from './agent.js';
import { renderAccessLog, UpstreamWatcher } from './upstream.js';

/**
 * Entry of the nginx container: `node dist/main.js [-- nginx -g 'daemon off;']`.
 * 1. fetches the full blocklist from ipblock and writes BLOCKLIST_FILE (so a new replica never serves unblocked),
 * 2. starts NGINX in the foreground as its child,
 * 3. long-polls ipblock and reloads NGINX (SIGHUP, debounced) when the list changes,
 * 4. with UPSTREAM_NAME set, keeps the api upstream's servers equal to its tasks in DNS (src/upstream.ts),
 * and forwards signals: SIGTERM/SIGINT -> (drain for NGINX_DRAIN_SECONDS, then) graceful SIGQUIT, SIGHUP/SIGUSR1/SIGUSR2/SIGQUIT as they are.
 * When NGINX exits the agent exits too (non-zero unless a stop was asked for), so Swarm restarts the task.
 */
const cfg = loadAgentConfig();
const logger = createLogger('nginx-agent');

const sep = process.argv.indexOf('--');
const command = sep >= 0 && process.argv.length > sep + 1 ? process.argv.slice(sep + 1) : ['nginx', '-g', 'daemon off;'];

const drainFile = cfg.NGINX_DRAIN_FILE ?? join(dirname(cfg.BLOCKLIST_FILE), 'draining');
rmSync(drainFile, { force: true });

// Assigned once, at the spawn below, but declared here: the signal handlers may run during the initial sync, before
// the spawn, and must then see `undefined` (a const declared at the spawn would still be in its temporal dead zone).
// eslint-disable-next-line prefer-const
let nginx: ReturnType<typeof spawn> | undefined;
let stopping = false;

const reloadNginx = () => {
  if (nginx?.pid && nginx.exitCode === null) process.kill(nginx.pid, 'SIGHUP');
};

const upstream = cfg.UPSTREAM_NAME
  ? new UpstreamWatcher({
      name: cfg.UPSTREAM_NAME,
      port: cfg.UPSTREAM_PORT,
      file: cfg.UPSTREAM_FILE,
      intervalMs: cfg.UPSTREAM_INTERVAL_MS,
      logger,
      reload: reloadNginx,
    })
  : undefined;

// NGINX's access lines go to the log-shipper over UDP (one datagram per request), not through its stdout, dockerd's
// json-file and the Docker API (BENCHMARKS.md, efficiency); the same DNS polling as the upstream keeps the address
// current, and NGINX falls back to stdout while the log-shipper has no task.
const accessLog = cfg.ACCESS_LOG_SYSLOG_NAME
  ? new UpstreamWatcher({
      name: cfg.ACCESS_LOG_SYSLOG_NAME,
      port: cfg.ACCESS_LOG_SYSLOG_PORT,
      file: cfg.ACCESS_LOG_FILE,
      intervalMs: cfg.UPSTREAM_INTERVAL_MS,
      logger,
      reload: reloadNginx,
      render: renderAccessLog,
    })
  : undefined;

const agent = new BlocklistAgent({
  ipblockUrl: cfg.IPBLOCK_URL,
  token: cfg.IPBLOCK_TOKEN,
  file: cfg.BLOCKLIST_FILE,
  debounceMs: cfg.BLOCKLIST_DEBOUNCE_MS,
  minReloadIntervalMs: cfg.BLOCKLIST_MIN_RELOAD_INTERVAL_MS,
  waitSeconds: cfg.BLOCKLIST_WAIT_SECONDS,
  logger,
  reload: reloadNginx,
});

const stopSignals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
for (const sig of stopSignals) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    agent.stop();
    upstream?.stop();
    accessLog?.stop();
    if (!(nginx?.pid && nginx.exitCode === null)) process.exit(0);
    const quit = () => {
      logger.info({ signal: sig }, 'stopping: graceful NGINX shutdown (SIGQUIT)');
      if (nginx?.pid && nginx.exitCode === null) nginx.kill('SIGQUIT');
    };
    if (cfg.NGINX_DRAIN_SECONDS > 0) {
      // health turns 503 first: keepalived moves the VIP away while this NGINX still answers
      writeFileSync(drainFile, `${new Date().toISOString()}\n`);
      logger.info({ drainFile, seconds: cfg.NGINX_DRAIN_SECONDS }, 'draining before NGINX stops');
      setTimeout(quit, cfg.NGINX_DRAIN_SECONDS * 1000);
    } else quit();
  });
}
for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT'] as NodeJS.Signals[]) {
  process.on(sig, () => {
    if (sig === 'SIGQUIT') {
      stopping = true;
      agent.stop();
      upstream?.stop();
      accessLog?.stop();
    }
    if (nginx?.pid && nginx.exitCode === null) nginx.kill(sig);
  });
}

const synced = await agent.initialSync(cfg.BLOCKLIST_INITIAL_SYNC_TIMEOUT_SECONDS * 1000);
await upstream?.sync().catch((err: Error) => logger.warn({ err: err.message }, 'upstream: first sync failed'));
await accessLog?.sync().catch((err: Error) => logger.warn({ err: err.message }, 'access log: first sync failed'));
await agent.writeStatus();
if (stopping) process.exit(0);

logger.info({ command, synced }, 'starting nginx');
nginx = spawn(command[0], command.slice(1), { stdio: 'inherit' });
nginx.on('error', (err) => {
  logger.fatal({ err: err.message, command }, 'cannot start nginx');
  process.exit(1);
});
nginx.on('exit', (code, signal) => {
  agent.stop();
  upstream?.stop();
  accessLog?.stop();
  const expected = stopping;
  const exitCode = expected ? (code ?? 0) : code && code !== 0 ? code : 1;
  (expected ? logger.info : logger.error).call(logger, { code, signal, expected }, 'nginx exited');
  process.exit(exitCode);
});

void agent.run();
upstream?.run();
accessLog?.run();
