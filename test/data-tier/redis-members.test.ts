// Redis members on an empty volume (docs/CLUSTER.md, "Moving a member"): a wiped replica, and the bootstrap member
// redis-0 wiped while it is not the master, rejoin as replicas of Sentinel's master; there is never a second master,
// and data written before is on them. Against the deployed stack (STACK; DOCKER_HOST and NODE_DOCKER_HOST for a remote cluster, see lib.ts).
// Run: node --test --import tsx --test-concurrency=1 test/data-tier/redis-members.test.ts
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { memberLogs, redisCli, redisState, redisWhy, REDIS, startMember, stopMember, waitUntil, wipeVolume } from './lib.js';

const WHOLE_MS = Number(process.env.MEMBER_WHOLE_MS ?? 420_000);

before(async () => {
  await waitUntil('Redis whole before the tests', WHOLE_MS, () => redisWhy(redisState()));
});

/** a key written on the master and acknowledged by both replicas (WAIT) */
function writeKey(tag: string): string {
  const s = redisState();
  const key = `data-tier-test:${tag}:${Date.now()}`;
  assert.equal(redisCli(s.masters[0], `set ${key} v`), 'OK');
  assert.equal(redisCli(s.masters[0], 'wait 2 5000'), '2', 'both replicas acknowledged the key');
  return key;
}

async function rejoinEmpty(member: string, key: string): Promise<void> {
  await stopMember(member);
  // the stopped member logs nothing until it starts again
  const since = new Date();
  try {
    await wipeVolume(member, '/data');
  } finally {
    startMember(member);
  }
  const ms = await waitUntil(`${member} a replica again and Redis whole`, WHOLE_MS, () => {
    const s = redisState();
    if (s.masters.length > 1) throw new Error(`second master: ${JSON.stringify(s.roles)}`);
    return redisWhy(s);
  });
  const s = redisState();
  process.stdout.write(`# MEMBER ${JSON.stringify({ test: `redis-wiped`, member, wholeAfterStartMs: ms, master: s.masters[0] })}\n`);
  assert.equal(s.masters.length, 1, `exactly one master: ${JSON.stringify(s.roles)}`);
  assert.equal(s.roles[member], 'slave', `${member} is a replica: ${JSON.stringify(s.roles)}`);
  assert.equal(redisCli(member, `get ${key}`), 'v', `${key}, written before the wipe, is on ${member}`);
  const logs = await memberLogs(member, since, [/empty data volume/, /starting as replica of/]);
  assert.match(logs, /empty data volume/, `${member} saw an empty volume (its log)`);
  assert.match(logs, /starting as replica of/, `${member} started as a replica`);
}

test("When a Redis replica's volume is wiped, then it rejoins as replica; one master", { timeout: WHOLE_MS * 2 + 200_000 }, async () => {
  const s = redisState();
  const replica = REDIS.filter((n) => n !== s.masters[0] && n !== 'redis-0')[0] ?? REDIS.find((n) => n !== s.masters[0])!;
  await rejoinEmpty(replica, writeKey('replica'));
});

test('When redis-0 (the bootstrap member) is wiped while another is master, then it rejoins as replica', { timeout: WHOLE_MS * 3 + 200_000 }, async () => {
  if (redisState().masters[0] === 'redis-0') {
    // hand the master role over first (Sentinel's own failover), so redis-0 is a replica when its volume goes
    redisCli('sentinel', 'sentinel failover mymaster', 26379);
    await waitUntil('a master other than redis-0, Redis whole', WHOLE_MS, () => {
      const s = redisState();
      return s.masters[0] === 'redis-0' ? 'redis-0 still master' : redisWhy(s);
    });
  }
  await rejoinEmpty('redis-0', writeKey('redis-0'));
});
