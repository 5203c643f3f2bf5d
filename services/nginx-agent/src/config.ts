import { env, loadConfigOrExit, z } from '@forum/shared';

export const configShape = {
  IPBLOCK_URL: z.string().url(),
  IPBLOCK_TOKEN: z.string({ required_error: 'IPBLOCK_TOKEN_FILE is required' }).min(1),
  BLOCKLIST_FILE: z.string().default('/var/run/nginx-blocklist/blocklist.conf'),
  /** how long a change waits for more changes before the reload */
  BLOCKLIST_DEBOUNCE_MS: env.int(250).pipe(z.number().min(0).max(10_000)),
  /** at most one reload per this interval, whatever the burst */
  BLOCKLIST_MIN_RELOAD_INTERVAL_MS: env.int(1000).pipe(z.number().min(0).max(60_000)),
  BLOCKLIST_WAIT_SECONDS: env.int(25).pipe(z.number().min(1).max(30)),
  /** how long NGINX's start waits for the first full list; after that it starts without (and says so) */
  BLOCKLIST_INITIAL_SYNC_TIMEOUT_SECONDS: env.int(30).pipe(z.number().min(0)),
  /**
   * planned stop: for this long before NGINX shuts down, the drain file exists (NGINX's /nginx-health answers 503
   * on it), so keepalived moves the VIP away while this NGINX still serves. 0 = stop at once.
   */
  NGINX_DRAIN_SECONDS: env.int(0).pipe(z.number().min(0).max(8)),
  NGINX_DRAIN_FILE: z.string().optional(),
  /**
   * Dynamic upstream (off when empty): the agent keeps UPSTREAM_FILE (included in NGINX's `upstream` block) equal
   * to the A records of UPSTREAM_NAME, polling every UPSTREAM_INTERVAL_MS, and reloads NGINX when they change.
   */
  UPSTREAM_NAME: z.string().default(''),
  UPSTREAM_PORT: env.int(8000).pipe(z.number().int().min(1).max(65535)),
  UPSTREAM_FILE: z.string().default('/run/nginx/api-upstream.conf'),
  UPSTREAM_INTERVAL_MS: env.int(2000).pipe(z.number().min(200).max(60_000)),
  /**
   * Where NGINX sends its access lines (off when empty: ACCESS_LOG_FILE's default, stdout). The agent points
   * `access_log syslog:` at the first address of ACCESS_LOG_SYSLOG_NAME (the log-shipper) on ACCESS_LOG_SYSLOG_PORT,
   * in ACCESS_LOG_FILE (included by nginx.conf), re-checked with the upstream's DNS polls.
   */
  ACCESS_LOG_SYSLOG_NAME: z.string().default(''),
  ACCESS_LOG_SYSLOG_PORT: env.int(5140).pipe(z.number().int().min(1).max(65535)),
  ACCESS_LOG_FILE: z.string().default('/run/nginx/access-log.conf'),
};

export function loadAgentConfig(envVars: NodeJS.ProcessEnv = process.env) {
  return loadConfigOrExit(configShape, { secrets: ['IPBLOCK_TOKEN'], env: envVars });
}
export type AgentConfig = ReturnType<typeof loadAgentConfig>;
