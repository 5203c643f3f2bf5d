import { after, before } from 'node:test';
import { startIpblock, startRedis, startSlackReceiver, tempDir, type Ipblock, type RedisServer, type SlackReceiver } from '../../../test/edge/lib/harness.js';

/** What a suite runs against: a private Redis, a Slack stand-in and ipblock processes on them. */
export interface IpblockSuite {
  readonly redis: RedisServer;
  readonly slack: SlackReceiver;
  /** every replica, in start order (the stack runs 2 on one Redis) */
  readonly replicas: Ipblock[];
  /** the first replica */
  readonly svc: Ipblock;
  /** where the replicas' token files are (for an extra process) */
  readonly secretsDir: string;
  /** Stops replica `i` and starts it again on the same Redis and Slack. */
  restart(i?: number, whileDown?: () => unknown): Promise<void>;
}

/**
 * Registers the suite's before/after hooks and returns the suite's world (filled in by `before`).
 * `beforeStart` runs once Redis is up and before any ipblock starts (events that predate ipblock).
 */
export function ipblockSuite(opts: { replicas?: number; env?: Record<string, string>; beforeStart?: (redis: RedisServer) => unknown } = {}): IpblockSuite {
  const secrets = tempDir('ipblock-secrets-');
  let redis: RedisServer;
  let slack: SlackReceiver;
  const replicas: Ipblock[] = [];
  const start = () => startIpblock({ redis, slackUrl: slack.url, secretsDir: secrets.dir, env: opts.env });

  before(async () => {
    redis = await startRedis();
    slack = await startSlackReceiver();
    await opts.beforeStart?.(redis);
    replicas.push(...(await Promise.all(Array.from({ length: opts.replicas ?? 1 }, start))));
  });

  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await slack?.close();
    await redis?.stop();
    secrets.remove();
  });

  return {
    get redis() {
      return redis;
    },
    get slack() {
      return slack;
    },
    replicas,
    get svc() {
      return replicas[0];
    },
    secretsDir: secrets.dir,
    async restart(i = 0, whileDown) {
      await replicas[i].stop();
      await whileDown?.();
      replicas[i] = await start();
    },
  };
}
