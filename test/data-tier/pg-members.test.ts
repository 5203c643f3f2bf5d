// PostgreSQL members on an empty volume (docs/CLUSTER.md, "Moving a member"): a wiped standby re-clones and the cluster is
// whole again; the bootstrap member (pg-0) started empty while another member is primary clones too, and no second
// cluster (system identifier) or second primary ever appears. Against the deployed stack (STACK, EDGE_URL; DOCKER_HOST
// and NODE_DOCKER_HOST for a remote cluster, see lib.ts).
// Run: node --test --import tsx --test-concurrency=1 test/data-tier/pg-members.test.ts
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { newUser } from '../drills/lib.js';
import { memberLogs, PG, pgAt, pgState, pgWhy, sleep, startMember, stopMember, waitUntil, wipeVolume } from './lib.js';

const WHOLE_MS = Number(process.env.MEMBER_WHOLE_MS ?? 420_000);
const PGDATA = '/var/lib/postgresql/data';
const WRITE_MS = 120_000;

before(async () => {
  await waitUntil('PostgreSQL whole before the tests', WHOLE_MS, () => pgWhy(pgState()));
});

/**
 * A thread written through the edge (forum API -> pgpool -> primary) and acknowledged. Retried until WRITE_MS: right
 * after a failover pgpool and the API are still converging (RTO is the drills' business, not this test's).
 */
async function writeThread(tag: string): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      return (await newUser(tag)).threadId;
    } catch (err) {
      if (Date.now() - t0 > WRITE_MS) throw err;
      process.stdout.write(`# write through the edge failed, retrying: ${(err as Error).message}\n`);
      await sleep(3000);
    }
  }
}
const hasThread = (member: string, id: number) => pgAt(member, `select count(*) from threads where id = ${id}`, 'forum');

async function rebuildEmpty(member: string): Promise<{ since: Date; cloneMs: number }> {
  await stopMember(member);
  // the stopped member logs nothing until it starts again
  const since = new Date();
  try {
    await wipeVolume(member, PGDATA);
  } finally {
    startMember(member);
  }
  const cloneMs = await waitUntil(`${member} re-cloned and the cluster whole`, WHOLE_MS, () => {
    const s = pgState();
    return pgWhy(s) || (s.streaming.includes(member) ? '' : `${member} not streaming`);
  });
  return { since, cloneMs };
}

test("When a standby's volume is wiped, then it re-clones; the cluster is whole with the earlier rows", { timeout: WHOLE_MS * 2 + 300_000 }, async () => {
  const before = pgState();
  const standby = PG.filter((n) => n !== before.primaries[0] && n !== 'pg-0')[0] ?? PG.find((n) => n !== before.primaries[0])!;
  const threadId = await writeThread('a');
  const { since, cloneMs } = await rebuildEmpty(standby);
  const after = pgState();
  process.stdout.write(`# MEMBER ${JSON.stringify({ test: 'pg-standby-wiped', member: standby, wholeAfterStartMs: cloneMs, primary: after.primaries[0] })}\n`);
  assert.equal(after.primaries.length, 1, `exactly one primary: ${JSON.stringify(after.roles)}`);
  assert.equal(after.roles[standby], 'standby');
  assert.equal(new Set(Object.values(after.systemIds)).size, 1, `one cluster: ${JSON.stringify(after.systemIds)}`);
  assert.equal(hasThread(standby, threadId), '1', `thread ${threadId}, written before the wipe, is on ${standby}`);
  const logs = await memberLogs(standby, since, [/cloning from pg-\d/]);
  assert.match(logs, /cloning from pg-\d/, `${standby} cloned (its log)`);
  assert.doesNotMatch(logs, /initialising a new cluster/);
});

test(
  'When the bootstrap member (pg-0) starts on an empty volume while another member is primary, then it clones: no second cluster, no second primary',
  { timeout: WHOLE_MS * 3 + 300_000 },
  async () => {
    const ids = pgState().systemIds;
    const clusterId = ids['pg-1'] ?? ids['pg-2'];
    // pg-0 must not be the primary: stop it (a failover when it is), then wait until another member is primary with a
    // streaming standby (quorum commit needs one) before its volume goes
    await stopMember('pg-0');
    const since = new Date();
    let threadId = 0;
    try {
      await waitUntil('a primary other than pg-0, with a streaming standby', WHOLE_MS, () => {
        const s = pgState(['pg-1', 'pg-2']);
        return s.primaries.length === 1 && s.primaries[0] !== 'pg-0' && s.streaming.length >= 1
          ? ''
          : `roles ${JSON.stringify(s.roles)} streaming [${s.streaming}]`;
      });
      threadId = await writeThread('b');
      await wipeVolume('pg-0', PGDATA);
    } finally {
      startMember('pg-0');
    }
    const cloneMs = await waitUntil('pg-0 cloned and the cluster whole', WHOLE_MS, () => {
      const s = pgState();
      if (s.roles['pg-0'] === 'primary' && s.primaries.length > 1) throw new Error(`second primary: ${JSON.stringify(s.roles)}`);
      return pgWhy(s) || (s.streaming.includes('pg-0') ? '' : 'pg-0 not streaming');
    });
    const after = pgState();
    process.stdout.write(`# MEMBER ${JSON.stringify({ test: 'pg-0-empty', wholeAfterStartMs: cloneMs, primary: after.primaries[0] })}\n`);
    assert.deepEqual(after.primaries.length, 1, `exactly one primary: ${JSON.stringify(after.roles)}`);
    assert.notEqual(after.primaries[0], 'pg-0');
    assert.equal(after.roles['pg-0'], 'standby');
    assert.deepEqual(new Set(Object.values(after.systemIds)), new Set([clusterId]), `one cluster (${clusterId}): ${JSON.stringify(after.systemIds)}`);
    assert.equal(hasThread('pg-0', threadId), '1', `thread ${threadId}, written while pg-0 was down, is on pg-0`);
    const logs = await memberLogs('pg-0', since, [/cloning from pg-[12]/]);
    assert.match(logs, /cloning from pg-[12]/, 'pg-0 cloned (its log)');
    assert.doesNotMatch(logs, /initialising a new cluster/, 'pg-0 did not initdb');
  },
);
