import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type pg from 'pg';

const resolveAll = async (host: string) => (await lookup(host, { all: true })).map((a) => a.address);

/**
 * Closes a pool's connections to addresses that its host name no longer resolves to.
 *
 * Swarm takes a task out of DNS 2 s before it sends the task SIGTERM (moby's container controller:
 * deactivateServiceBinding, then defaultGossipConvergeDelay). A Pgpool task being drained therefore still holds the
 * api's pooled sessions when it starts its smart shutdown, and it keeps serving them until they disconnect, while
 * its node's PostgreSQL member (stopped at the same moment) is gone under them: the cluster's maintenance drill saw
 * writes sent on such a session answered `XX000 unable to read data from DB node 1` seconds after that member had
 * stopped, with no way for the api to know the write had not run. Following the name lets the pool drop those
 * sessions before the SIGTERM: an idle one at once, a checked-out one when its request releases it.
 *
 * The price: one lookup of the host per interval for all the pools given (Docker's resolver on 127.0.0.11, ~0.1 ms). A lookup that
 * fails, or answers no address, closes nothing: a resolver hiccup must not empty the pool.
 */
export function followHostAddresses(pools: pg.Pool[], host: string, intervalMs: number, resolve: (host: string) => Promise<string[]> = resolveAll): () => void {
  if (!intervalMs || isIP(host) || host.startsWith('/')) return () => undefined;
  // one lookup a round serves every pool of this host (the api's read-write and read-only pools share PGHOST)
  const followed = pools.map((pool) => track(pool, host));
  let running = false;
  const tick = async () => {
    if (running || followed.every((f) => f.clients.size === 0)) return;
    running = true;
    try {
      const live = new Set(await resolve(host));
      if (live.size === 0) return;
      for (const f of followed) {
        for (const client of f.clients) {
          const addr = (client as unknown as { connection?: { stream?: { remoteAddress?: string } } }).connection?.stream?.remoteAddress;
          if (addr && !live.has(addr.replace(/^::ffff:/, ''))) f.drop(client);
        }
      }
    } catch {
      // unresolvable for now: keep every connection (see above)
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** The pool's open sessions, and `drop`, which closes one now if idle, else when its request releases it. */
function track(pool: pg.Pool, host: string) {
  const clients = new Set<pg.PoolClient>();
  const busy = new Set<pg.PoolClient>();
  const gone = new WeakSet<pg.PoolClient>();
  const drop = (client: pg.PoolClient) => {
    gone.add(client);
    // Only an idle client may get the 'error': it is the pool's own signal to remove it (pg-pool's idle listener
    // ends it cleanly). On a checked-out one the pool's query takes that event as its query's error, so it waits
    // for its release.
    if (!busy.has(client)) client.emit('error', new Error(`${host} no longer resolves to this connection's address`));
  };
  pool.on('connect', (client) => clients.add(client));
  pool.on('acquire', (client) => busy.add(client));
  pool.on('remove', (client) => {
    clients.delete(client);
    busy.delete(client);
  });
  pool.on('release', (err, client) => {
    busy.delete(client);
    // the pool puts it back on its idle list after this event, in the same tick (released with an error, the
    // pool removes it itself)
    if (gone.has(client) && !err) setImmediate(() => drop(client));
  });
  return { clients, drop };
}
