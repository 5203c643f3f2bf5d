import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { loadSlaRules } from '@forum/shared/sla-rules';
import { Redis } from 'ioredis';
import { SlackQueue, answerClientErrors, createLogger, installGracefulShutdown } from '@forum/shared';
import { loadIpblockConfig } from './config.js';
import { BlockPolicy } from './ip-policy.js';
import { BlockStore } from './store.js';
import { BlockService, blockChangesDigest } from './blocks.js';
import { SecurityEventConsumer } from './security-events.js';
import { createApp } from './app.js';

const cfg = loadIpblockConfig();
const logger = createLogger('ipblock');

// The brute-force rule has one copy, sla-rules.yml `bruteforce` (the image ships configs/ next to services/; the
// stack may mount its `sla_rules` config instead). Refusing to start beats blocking with numbers that drifted.
const rulesFile = cfg.SLA_RULES_FILE ?? fileURLToPath(new URL('../../../configs/alerts/sla-rules.yml', import.meta.url));
let bruteforce: { failures: number; blockSeconds: number };
try {
  const b = loadSlaRules(rulesFile).bruteforce;
  if (!b) throw new Error('it has no bruteforce section');
  bruteforce = { failures: cfg.BRUTEFORCE_THRESHOLD ?? b.failures, blockSeconds: cfg.BRUTEFORCE_BLOCK_SECONDS ?? b.blockSeconds };
} catch (err) {
  logger.fatal({ file: rulesFile, err: (err as Error).message }, 'cannot read the brute-force rule (SLA_RULES_FILE)');
  process.exit(1);
}

let policy: BlockPolicy;
try {
  policy = new BlockPolicy({
    protectedCidrs: cfg.IPBLOCK_PROTECTED_CIDRS,
    allowCidrs: cfg.IPBLOCK_ALLOW_CIDRS,
    minPrefixV4: cfg.IPBLOCK_MIN_PREFIX_V4,
    minPrefixV6: cfg.IPBLOCK_MIN_PREFIX_V6,
  });
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'IPBLOCK_PROTECTED_CIDRS / IPBLOCK_ALLOW_CIDRS hold an invalid range');
  process.exit(1);
}

// socketTimeout: a command with no reply destroys the connection and reconnects (a session HAProxy no longer
// forwards after a Redis master died would otherwise hang forever); the stream reader's BLOCK is 5 s, so 8 s there
const redisOpts = {
  username: cfg.REDIS_USER,
  password: cfg.REDIS_PASSWORD,
  maxRetriesPerRequest: 3,
  enableAutoPipelining: false,
  connectTimeout: 5000,
  socketTimeout: 3000,
};
const redis = new Redis(cfg.REDIS_URL, redisOpts);
const subscriber = new Redis(cfg.REDIS_URL, redisOpts);
const streamConn = new Redis(cfg.REDIS_URL, { ...redisOpts, maxRetriesPerRequest: null, socketTimeout: 8000 });
for (const [name, conn] of Object.entries({ redis, subscriber, streamConn })) {
  conn.on('error', (err) => logger.warn({ conn: name, err: err.message }, 'redis connection error'));
}

const store = new BlockStore(redis, cfg.REDIS_KEY_PREFIX);
subscriber.on('message', (_channel, message) => store.notify(Number(message)));
// ioredis re-subscribes after a reconnect (Redis failover through HAProxy); the 1 s version poll covers the gap
void subscriber.subscribe(store.channel).catch((err) => logger.warn({ err: err.message }, 'subscribe failed; relying on polling'));

const slack = new SlackQueue(cfg.SLACK_WEBHOOK_URL, logger, { minIntervalMs: 1000, merge: blockChangesDigest });
const service = new BlockService(store, policy, slack, logger, {
  defaultTtlSeconds: cfg.IPBLOCK_DEFAULT_TTL_SECONDS,
  maxTtlSeconds: cfg.IPBLOCK_MAX_TTL_SECONDS,
});

const consumer = new SecurityEventConsumer(streamConn, service, logger, {
  stream: cfg.SECURITY_EVENTS_STREAM,
  group: cfg.SECURITY_EVENTS_GROUP,
  consumer: cfg.HOSTNAME,
  ttlSeconds: bruteforce.blockSeconds,
});
if (cfg.SECURITY_EVENTS_ENABLED) consumer.start();

const sweeper = setInterval(() => {
  service.sweep().catch((err) => logger.warn({ err: (err as Error).message }, 'expiry sweep failed'));
}, cfg.IPBLOCK_SWEEP_INTERVAL_MS);

let isDraining = () => false;
const app = createApp({
  logger,
  token: cfg.IPBLOCK_TOKEN,
  service,
  store,
  checks: { redis: () => redis.ping() },
  isDraining: () => isDraining(),
  bruteforceThreshold: bruteforce.failures,
  bruteforceTtlSeconds: bruteforce.blockSeconds,
  maxWaitSeconds: cfg.IPBLOCK_MAX_WAIT_SECONDS,
});
const server = createServer(app);
server.keepAliveTimeout = 65_000;
answerClientErrors(server);
server.listen(cfg.PORT, () => logger.info({ port: cfg.PORT }, 'ipblock listening'));

// waiting long-polls answer at once with the current list, so the server can close within the grace period
process.once('SIGTERM', () => store.wakeAll());
process.once('SIGINT', () => store.wakeAll());
const shutdown = installGracefulShutdown([server], {
  logger,
  timeoutMs: 8000,
  onClose: [() => clearInterval(sweeper), () => store.close(), () => consumer.stop(), () => slack.drain(), () => subscriber.quit(), () => redis.quit()],
});
isDraining = shutdown.isDraining;
