import { env, loadConfigOrExit, z } from '@forum/shared';

export const configShape = {
  PORT: env.int(8080),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL'),
  /** the Redis ACL user (the stack's `app`); unset = the default user */
  REDIS_USER: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
  REDIS_KEY_PREFIX: z.string().default('ipblock:'),
  IPBLOCK_TOKEN: z.string({ required_error: 'IPBLOCK_TOKEN_FILE is required' }).min(16, 'must be at least 16 characters'),
  SLACK_WEBHOOK_URL: z.string().url().optional(),
  IPBLOCK_DEFAULT_TTL_SECONDS: env.int(3600).pipe(z.number().min(1)),
  IPBLOCK_MAX_TTL_SECONDS: env.int(30 * 24 * 3600).pipe(z.number().min(1)),
  /** extra ranges that must never be blocked (the stack's own networks, admin hosts), comma separated */
  IPBLOCK_PROTECTED_CIDRS: env.list(),
  /** ranges allowed although they overlap a refused range (labs, tests), comma separated */
  IPBLOCK_ALLOW_CIDRS: env.list(),
  IPBLOCK_MIN_PREFIX_V4: env.int(16).pipe(z.number().min(0).max(32)),
  IPBLOCK_MIN_PREFIX_V6: env.int(32).pipe(z.number().min(0).max(128)),
  IPBLOCK_MAX_WAIT_SECONDS: env.int(30).pipe(z.number().min(1).max(300)),
  IPBLOCK_SWEEP_INTERVAL_MS: env.int(1000).pipe(z.number().min(100)),
  /** configs/alerts/sla-rules.yml: its `bruteforce` section gives the threshold and the block TTL below */
  SLA_RULES_FILE: z.string().optional(),
  /** overrides bruteforce.failures of the rules file */
  BRUTEFORCE_THRESHOLD: z.coerce.number().int().min(1).optional(),
  /** overrides bruteforce.blockSeconds of the rules file (TTL of a brute-force block without its own ttlSeconds) */
  BRUTEFORCE_BLOCK_SECONDS: z.coerce.number().int().min(1).optional(),
  SECURITY_EVENTS_STREAM: z.string().default('security:events'),
  SECURITY_EVENTS_GROUP: z.string().default('ipblock'),
  SECURITY_EVENTS_ENABLED: env.bool(true),
  HOSTNAME: z.string().default('ipblock'),
};

export function loadIpblockConfig(envVars: NodeJS.ProcessEnv = process.env) {
  return loadConfigOrExit(configShape, { secrets: ['REDIS_PASSWORD', 'IPBLOCK_TOKEN', 'SLACK_WEBHOOK_URL'], env: envVars });
}
export type IpblockConfig = ReturnType<typeof loadIpblockConfig>;
