import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { followHostAddresses } from '../src/dns-follow.js';
import { startPostgres, waitFor, type PgInstance } from './support/env.js';

// A real PostgreSQL behind a pool whose host name "moves": the resolver is the one part replaced, because this
// machine's DNS cannot take an address away on cue (the Swarm case it stands for: a drained Pgpool task leaves DNS
// 2 s before its SIGTERM). What is asserted is what the server sees: which sessions stay open.
let server: PgInstance;
let addresses: string[] | Error = ['127.0.0.1'];
let lookups = 0;
const resolve = async () => {
  lookups++;
  if (addresses instanceof Error) throw addresses;
  return addresses;
};
/** until the follower has looked the name up twice more: one whole round ran on the answer set before it */
const twoMoreLookups = () => {
  const from = lookups;
  return waitFor('two more lookups', () => lookups >= from + 2);
};
const APP = 'dns-follow-test';
let admin: pg.Client;
const sessions = async () =>
  Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [APP])).rows[0]!.n);

before(async () => {
  server = await startPostgres();
  admin = new pg.Client({ host: server.dir, port: server.port, user: 'postgres', database: 'postgres' });
  await admin.connect();
});
after(async () => {
  await admin.end();
  await server.stop();
});

/** A pool on `localhost` whose sessions only the follower may close (no idle timeout: pg-pool's default is 10 s). */
function followedPool(max: number): pg.Pool {
  const pool = new pg.Pool({
    host: 'localhost',
    port: server.port,
    user: 'forum',
    password: 'forum-test-pw',
    database: 'forum',
    application_name: APP,
    max,
    idleTimeoutMillis: 0,
  });
  pool.on('error', () => undefined);
  pool.on('connect', (c) => c.on('error', () => undefined));
  return pool;
}

test(
  'When the host stops resolving to a session’s address, then the idle sessions close at once, a checked-out one after its release, and the pool serves on',
  { timeout: 30_000 },
  async () => {
    addresses = ['127.0.0.1'];
    const pool = followedPool(5);
    const stop = followHostAddresses([pool], 'localhost', 50, resolve);
    try {
      const held = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
      held[0]!.release();
      held[1]!.release();
      const busy = held[2]!;
      assert.equal(await sessions(), 3);

      // a resolver that fails, or answers nothing, closes nothing
      addresses = new Error('EAI_AGAIN');
      await twoMoreLookups();
      addresses = [];
      await twoMoreLookups();
      assert.equal(pool.totalCount, 3);
      assert.equal(await sessions(), 3);

      // pool.query's own checkout, in flight while the address goes: it must answer, not fail with the drop
      const inFlight = pool.query<{ x: number }>('SELECT 3 AS x FROM pg_sleep(0.5)');
      addresses = ['10.255.255.1']; // the task behind this address left DNS
      await twoMoreLookups(); // the drop ran while the query was still in flight (pg_sleep 0.5 s, lookups every 50 ms)
      assert.equal((await inFlight).rows[0]!.x, 3, 'a query in flight on a session of the address that went answers');
      await waitFor('idle sessions closed', async () => pool.totalCount === 1 && (await sessions()) === 1);
      assert.equal((await busy.query<{ x: number }>('SELECT 1 AS x')).rows[0]!.x, 1, 'the checked-out session keeps working until released');
      // from here the lookups fail (they close nothing), so only the release itself can close the marked session
      addresses = new Error('EAI_AGAIN');
      await twoMoreLookups();
      busy.release();
      await waitFor('released session closed', async () => pool.totalCount === 0 && (await sessions()) === 0);

      addresses = ['127.0.0.1'];
      assert.equal((await pool.query<{ x: number }>('SELECT 2 AS x')).rows[0]!.x, 2);
    } finally {
      stop();
      await pool.end();
    }
  },
);

test(
  'When two pools follow the same host, then one lookup a round serves both, and both close their sessions to an address that went',
  { timeout: 30_000 },
  async () => {
    addresses = ['127.0.0.1'];
    const pools = [followedPool(2), followedPool(2)];
    const intervalMs = 50;
    const stop = followHostAddresses(pools, 'localhost', intervalMs, resolve);
    try {
      for (const pool of pools) (await pool.connect()).release();
      assert.equal(await sessions(), 2);
      // a timer per pool would look the name up twice a round; setInterval never fires more often than its interval
      const from = lookups;
      const t0 = Date.now();
      await twoMoreLookups();
      await new Promise((r) => setTimeout(r, 1000));
      const rounds = (Date.now() - t0) / intervalMs;
      const made = lookups - from;
      assert.ok(made <= rounds + 2, `${made} lookups in ${rounds.toFixed(1)} rounds: more than one a round`);
      addresses = ['10.255.255.1'];
      await waitFor('both pools closed their sessions', async () => pools.every((p) => p.totalCount === 0) && (await sessions()) === 0);
    } finally {
      stop();
      addresses = ['127.0.0.1'];
      await Promise.all(pools.map((p) => p.end()));
    }
  },
);
