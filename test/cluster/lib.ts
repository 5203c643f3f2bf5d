// Cluster drill helpers for the 3-node test cluster of `npm run cluster:up` (docs/CLUSTER.md "Drills").
//
// test/drills/lib.ts talks to ONE engine (DOCKER_HOST): on a multi-node swarm `docker ps`/`docker exec` only see
// that node's containers. Here every container is looked up on every node through the node sockets the cluster
// exposes on the host (/run/forum-cluster/<node>/docker.sock), swarm-wide commands go to the first manager that
// answers (a drill may have killed or isolated node 1), and faults are injected on the HOST engine that runs the
// node containers (docker kill/start, iptables inside the node container).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Client, EDGE_URL, edgeFailure, Load, lostWrites, newUser, redisSecretFor, STACK } from '../drills/lib.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** node names and their addresses on the cluster bridge, from .cluster/env (exported by scripts/test-cluster.sh) */
export const NODES = (process.env.CLUSTER_NODES ?? 'forum-node-1 forum-node-2 forum-node-3').split(/[\s,]+/).filter(Boolean);
const IPS = (process.env.CLUSTER_NODE_IPS ?? '172.30.0.11 172.30.0.12 172.30.0.13').split(/[\s,]+/).filter(Boolean);
export const nodeIp = (node: string): string => {
  const i = NODES.indexOf(node);
  if (i < 0 || !IPS[i]) throw new Error(`no address for node ${node} (CLUSTER_NODES/CLUSTER_NODE_IPS)`);
  return IPS[i];
};
export const socketOf = (node: string) => `unix:///run/forum-cluster/${node}/docker.sock`;
/** the host engine that runs the node containers: never the DOCKER_HOST of the tests (that is a node) */
const HOST_DOCKER = process.env.HOST_DOCKER_HOST ?? 'unix:///var/run/docker.sock';

/**
 * Every docker call is asynchronous: the drills poll the cluster WHILE the load runs, and a synchronous call would
 * stall the load's requests for its duration (and count them slow or failed).
 */
async function run(args: string[], timeoutMs: number): Promise<string> {
  // Swarm updates are optimistic: "update out of sequence" means another writer (the deploy's label step, a drill's
  // restore, the autoscaler) changed the object between our read and our write; the CLI re-reads it when run again
  for (let attempt = 1; ; attempt++) {
    try {
      return await runOnce(args, timeoutMs);
    } catch (err) {
      if (attempt >= 5 || !/update out of sequence/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}
function runOnce(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err)
        reject(
          Object.assign(
            new Error(
              `docker ${args.slice(0, 6).join(' ')}: ${
                String(stderr || err.message)
                  .trim()
                  .split('\n')[0]
              }`,
            ),
            { stdout },
          ),
        );
      else resolve(stdout.trim());
    });
  });
}
/** docker on the host engine (node containers) */
export const hostDocker = (args: string[], timeoutMs = 30_000) => run(['-H', HOST_DOCKER, ...args], timeoutMs);
/** docker on one node's engine */
export const nodeDocker = (node: string, args: string[], timeoutMs = 20_000) => run(['-H', socketOf(node), ...args], timeoutMs);
const firstLine = (err: unknown) => (err as Error).message.split('\n')[0];

const nodeStatus = (node: string) => hostDocker(['inspect', '-f', '{{.State.Status}}', node], 10_000).catch(() => 'missing');
/** the node container runs on the host (a drill may have killed it; paused counts as not running) */
export async function nodeRunning(node: string): Promise<boolean> {
  return (await nodeStatus(node)) === 'running';
}
/**
 * Short-lived cache: each docker CLI call costs 0.3-2 s on this busy 2-core machine, and a full-strength check
 * asks the same questions (which nodes answer, what runs where) many times. 2 s is shorter than every poll.
 */
function cached<T>(ttlMs: number, f: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const memo = new Map<string, { at: number; p: Promise<T> }>();
  return (key: string) => {
    const hit = memo.get(key);
    if (hit && Date.now() - hit.at < ttlMs) return hit.p;
    const p = f(key);
    memo.set(key, { at: Date.now(), p });
    p.catch(() => memo.delete(key));
    return p;
  };
}
const nodeAnswers = cached(
  2000,
  async (n) =>
    (await nodeRunning(n)) &&
    (await nodeDocker(n, ['version', '--format', '{{.Server.Version}}'], 5000).then(
      () => true,
      () => false,
    )),
);
/** nodes whose engine answers (a partitioned node still answers: its socket is on the host) */
export async function liveNodes(): Promise<string[]> {
  const ok = await Promise.all(NODES.map(nodeAnswers));
  return NODES.filter((_, i) => ok[i]);
}
/** the running containers of the stack on one node: service name -> container ids */
const listing = cached(2000, async (node): Promise<Map<string, string[]>> => {
  const out = await nodeDocker(
    node,
    [
      'ps',
      '--filter',
      `label=com.docker.stack.namespace=${STACK}`,
      '--filter',
      'status=running',
      '--format',
      '{{.ID}} {{.Label "com.docker.swarm.service.name"}}',
    ],
    10_000,
  );
  const m = new Map<string, string[]>();
  for (const [id, svc] of out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')))
    m.set(svc, [...(m.get(svc) ?? []), id]);
  return m;
});
/** a container's addresses (they never change for a container id) */
const addressesOf = cached(3_600_000, async (key) => {
  const [node, id] = key.split('/');
  return (await nodeDocker(node, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', id])).split(/\s+/).filter(Boolean);
});

let lastManager: string | undefined;
/**
 * The first manager that can answer a swarm-wide question (`docker node ls` needs the Raft quorum: an isolated or
 * dead manager cannot). Tried: the last one that answered, then the nodes in order, `exclude` never.
 */
export async function manager(exclude: string[] = []): Promise<string> {
  const order = [...(lastManager ? [lastManager] : []), ...NODES].filter((n, i, a) => a.indexOf(n) === i && !exclude.includes(n));
  for (const n of order) {
    if (!(await nodeRunning(n))) continue;
    try {
      await nodeDocker(n, ['node', 'ls', '-q'], 8000);
      lastManager = n;
      return n;
    } catch {
      /* next */
    }
  }
  throw new Error(`no manager answers 'docker node ls' (tried ${order.join(', ')})`);
}
/** a swarm-wide docker command through a manager that answers */
export async function swarm(args: string[], timeoutMs = 30_000, exclude: string[] = []): Promise<string> {
  return nodeDocker(await manager(exclude), args, timeoutMs);
}

// ---------------------------------------------------------------- containers across nodes
export interface Located {
  node: string;
  id: string;
}
/** the running containers of a stack service, on every live node (or only on `nodes`) */
export async function containersOf(service: string, nodes?: string[]): Promise<Located[]> {
  const on = nodes ?? (await liveNodes());
  const lists = await Promise.all(on.map((n) => listing(n).catch(() => new Map<string, string[]>())));
  return on.flatMap((node, i) => (lists[i].get(`${STACK}_${service}`) ?? []).map((id) => ({ node, id })));
}
export async function containerOf(service: string, nodes?: string[]): Promise<Located> {
  const c = await containersOf(service, nodes);
  if (!c.length) throw new Error(`no running container for ${STACK}_${service}${nodes ? ` on ${nodes.join(',')}` : ''}`);
  return c[0];
}
export const execIn = (c: Located, cmd: string[], timeoutMs = 20_000, env: Record<string, string> = {}) =>
  nodeDocker(c.node, ['exec', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), c.id, ...cmd], timeoutMs);

// ---------------------------------------------------------------- PostgreSQL
/** every PG member's role as seen from a pg container on one of `nodes` (fence.sh asks each member) */
export async function pgRoles(nodes?: string[]): Promise<Record<string, string>> {
  const live = nodes ?? (await liveNodes());
  for (const member of ['pg-0', 'pg-1', 'pg-2']) {
    for (const c of await containersOf(member, live)) {
      try {
        const out = await execIn(c, ['fence.sh'], 20_000);
        return Object.fromEntries(out.split('\n').map((l) => l.trim().split(/\s+/)));
      } catch {
        /* next */
      }
    }
  }
  return {};
}
export async function pgPrimary(nodes?: string[]): Promise<string> {
  const roles = await pgRoles(nodes);
  const p = Object.entries(roles).filter(([, r]) => r === 'primary');
  if (p.length !== 1) throw new Error(`expected one PG primary, got ${JSON.stringify(roles)}`);
  return p[0][0];
}

// ---------------------------------------------------------------- Redis
/** redis-cli in a Redis or Sentinel container, authenticated from the container's own secret on stdin (--askpass: not
 * on a command line nor in an environment): the default user's on a Redis node, the Sentinel's own on 26379 */
export async function redisCli(c: Located, args: string[], port = 6379, timeoutMs = 10_000): Promise<string> {
  const cmd = `exec redis-cli --askpass --no-auth-warning -p "$0" "$@" </run/secrets/${redisSecretFor(port)}`;
  return execIn(c, ['sh', '-c', cmd, String(port), ...args], timeoutMs);
}
export interface RedisMember {
  member: string;
  c: Located;
  role: string;
  connectedReplicas: number;
  linkUp: boolean;
}
/** one field of a Redis INFO reply (`key:value` lines), or undefined */
const infoField = (info: string, key: string): string | undefined => new RegExp(`^${key}:(.*)$`, 'm').exec(info)?.[1]?.trim();
/** INFO replication of every running Redis member (on `nodes`) */
export async function redisMembers(nodes?: string[]): Promise<RedisMember[]> {
  const live = nodes ?? (await liveNodes());
  const found = await Promise.all(
    ['redis-0', 'redis-1', 'redis-2'].map(async (member) =>
      Promise.all(
        (await containersOf(member, live)).map(async (c): Promise<RedisMember | undefined> => {
          const info = await redisCli(c, ['info', 'replication']).catch(() => undefined);
          if (info === undefined) return undefined;
          const get = (k: string) => infoField(info, k) ?? '';
          return { member, c, role: get('role'), connectedReplicas: Number(get('connected_slaves') || 0), linkUp: get('master_link_status') === 'up' };
        }),
      ),
    ),
  );
  return found.flat().filter((m): m is RedisMember => m !== undefined);
}
/**
 * The Redis tier as each part sees it, for the report of a failed check: every member's role, master and link, every
 * sentinel's master address and flags, and the last lines of their logs (what decided each role).
 */
export async function redisDiagnosis(lines = 40): Promise<string> {
  const live = await liveNodes();
  const members = await Promise.all(
    ['redis-0', 'redis-1', 'redis-2'].map(async (member) =>
      Promise.all(
        (await containersOf(member, live)).map(async (c) => {
          const info = await redisCli(c, ['info', 'replication']).catch((e: Error) => `error ${firstLine(e)}`);
          const pick = (k: string) => infoField(info, k) ?? '-';
          const addrs = await addressesOf(`${c.node}/${c.id}`).catch(() => [] as string[]);
          return `${member}@${c.node} [${addrs.join(',')}] role=${pick('role')} master=${pick('master_host')} link=${pick('master_link_status')} replicas=${pick('connected_slaves')} offset=${pick('master_repl_offset')}`;
        }),
      ),
    ),
  );
  const sentinels = await Promise.all(
    (await containersOf('sentinel', live)).map(async (c) => {
      const addr = await redisCli(c, ['sentinel', 'get-master-addr-by-name', 'mymaster'], 26379).catch((e: Error) => firstLine(e));
      const master = await redisCli(c, ['sentinel', 'master', 'mymaster'], 26379).catch(() => '');
      const kv = master.split('\n');
      const val = (k: string) => kv[kv.indexOf(k) + 1] ?? '-';
      return `sentinel@${c.node} names ${addr.split('\n')[0]} flags=${val('flags')} epoch=${val('config-epoch')} replicas=${val('num-slaves')} sentinels=${val('num-other-sentinels')}`;
    }),
  );
  // the lines that change or explain a role, of every task of the tier, in time order
  const sock = socketOf(await manager());
  const roleLines = '(entrypoint|janitor|MASTER MODE|REPLICAOF|switch-master|failover|[+-][so]down|convert-to-slave|elected|SIGTERM|tilt|monitor)';
  const logs = await new Promise<string>((resolve) =>
    execFile(
      'sh',
      [
        '-c',
        `for s in sentinel redis-0 redis-1 redis-2; do docker -H "$1" service logs --no-trunc --timestamps --since 20m "$2_$s" 2>&1; done | grep -E "$3" | sort | tail -n "$4"`,
        'sh',
        sock,
        STACK,
        roleLines,
        String(lines),
      ],
      { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 },
      (_err, stdout) => resolve(stdout ?? ''),
    ),
  );
  return [...members.flat(), ...sentinels, `---- role changes of the Redis tier, last ${lines} (sentinel, redis-0..2)`, logs].join('\n');
}
/** prints redisDiagnosis as test diagnostics, headed by `what`: for a drill whose Redis check failed */
export async function explainRedis(what: string): Promise<void> {
  const d = await redisDiagnosis(150).catch((e: Error) => `the Redis diagnosis failed: ${e.message}`);
  process.stdout.write(`# ${what}\n${d.replace(/^/gm, '# ')}\n`);
}
/** the member a sentinel on `nodes` names master */
export async function redisMaster(nodes?: string[]): Promise<RedisMember> {
  const live = nodes ?? (await liveNodes());
  const s = await containerOf('sentinel', live);
  const ip = (await redisCli(s, ['sentinel', 'get-master-addr-by-name', 'mymaster'], 26379)).split('\n')[0];
  for (const m of await redisMembers(live)) {
    if ((await addressesOf(`${m.c.node}/${m.c.id}`).catch(() => [] as string[])).includes(ip)) return m;
  }
  throw new Error(`no Redis member has Sentinel's master address ${ip}`);
}

/**
 * Makes the Redis master live on `node` (the node of the PG primary), so that one node holds both: every other member
 * (the master too: it is a replica afterwards) gets replica-priority 0 (never promoted), Sentinel fails over to the
 * member on `node`, priorities are put back. No-op when the master is already there. SENTINEL FAILOVER is asked again
 * every 15 s while the master has not moved: a sentinel refuses (-INPROG, -NOGOODSLAVE) while a failover runs or
 * before it has seen the target as a good replica, which a member re-created just before (new address) may not be
 * yet. Its replies go into the error, with the tier as each part sees it.
 */
export async function moveRedisMasterTo(node: string, deadlineMs = 120_000): Promise<void> {
  if ((await redisMaster()).c.node === node) return;
  const members = await redisMembers();
  const target = members.find((m) => m.c.node === node);
  if (!target) throw new Error(`no Redis member on ${node}`);
  const others = members.filter((m) => m !== target);
  const t0 = Date.now();
  const replies: string[] = [];
  let askedAt = 0;
  try {
    for (const m of others) await redisCli(m.c, ['config', 'set', 'replica-priority', '0']);
    await until(`Redis master on ${node}`, deadlineMs, async () => {
      const m = await redisMaster().catch(() => undefined);
      if (m?.c.node === node) return m.role === 'master' && m.connectedReplicas >= 2;
      if (Date.now() - askedAt >= 15_000) {
        askedAt = Date.now();
        const reply = await redisCli(await containerOf('sentinel'), ['sentinel', 'failover', 'mymaster'], 26379).catch((e: Error) => e.message);
        replies.push(`${Math.round((askedAt - t0) / 1000)} s: ${reply.trim().split('\n')[0]}`);
      }
      return false;
    });
  } catch (err) {
    const why = `${(err as Error).message}; SENTINEL FAILOVER answered ${replies.join(', ')}`;
    await explainRedis(`moving the Redis master to ${node}: ${why}`);
    throw new Error(why);
  } finally {
    for (const m of others) await redisCli(m.c, ['config', 'set', 'replica-priority', '100']).catch(() => undefined);
  }
}

// ---------------------------------------------------------------- swarm services
interface ServiceSpec {
  name: string;
  global: boolean;
  desired: number;
  constraints: string[];
  maxPerNode: number;
}
export async function stackServices(exclude: string[] = []): Promise<ServiceSpec[]> {
  const names = (await swarm(['service', 'ls', '--filter', `label=com.docker.stack.namespace=${STACK}`, '--format', '{{.Name}}'], 30_000, exclude))
    .split('\n')
    .filter(Boolean);
  if (!names.length) return [];
  const specs = JSON.parse(await swarm(['service', 'inspect', ...names], 60_000, exclude)) as any[];
  return specs.map((s) => ({
    name: s.Spec.Name,
    global: !!s.Spec.Mode.Global,
    desired: s.Spec.Mode.Replicated?.Replicas ?? 0,
    constraints: s.Spec.TaskTemplate.Placement?.Constraints ?? [],
    maxPerNode: s.Spec.TaskTemplate.Placement?.MaxReplicas ?? 0,
  }));
}
export interface SwarmNode {
  hostname: string;
  state: string;
  availability: string;
  labels: Record<string, string>;
  reachability: string;
}
/** state, availability and labels of every swarm node */
export async function swarmNodes(exclude: string[] = []): Promise<SwarmNode[]> {
  const ids = (await swarm(['node', 'ls', '-q'], 30_000, exclude)).split('\n').filter(Boolean);
  return (JSON.parse(await swarm(['node', 'inspect', ...ids], 30_000, exclude)) as any[]).map((n) => ({
    hostname: n.Description.Hostname,
    state: n.Status.State,
    availability: n.Spec.Availability,
    labels: n.Spec.Labels ?? {},
    reachability: n.ManagerStatus?.Reachability ?? '',
  }));
}
/** running tasks of a service on `upNodes` (a dead node's tasks keep saying Running until Swarm notices) */
export async function runningTasks(service: string, upNodes: string[], exclude: string[] = []): Promise<number> {
  const lines = (
    await swarm(['service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'], 30_000, exclude)
  ).split('\n');
  return lines.filter((l) => {
    const [node, state] = l.split(' ');
    return upNodes.includes(node) && state === 'Running';
  }).length;
}
/**
 * Services not back at their desired replicas on the nodes that are up and active. A service that cannot run
 * without the missing nodes is not counted: a constraint on a node label only a missing node carries
 * (pg-N, redis-N, influxdb, backup), and max_replicas_per_node caps it (nginx: one per node). Global services
 * run one task per up, active node.
 */
export async function unscheduled(exclude: string[] = []): Promise<string[]> {
  const nodes = await swarmNodes(exclude);
  const up = nodes.filter((n) => n.state === 'ready' && n.availability === 'active');
  const upNames = up.map((n) => n.hostname);
  const problems: string[] = [];
  const services = await stackServices(exclude);
  // one `service ps` for every service: "forum_api.1 forum-node-2 Running 3 minutes ago" (global: forum_x.<node id>)
  const running = new Map<string, number>();
  if (services.length) {
    const lines = (
      await swarm(
        ['service', 'ps', ...services.map((s) => s.name), '--filter', 'desired-state=running', '--format', '{{.Name}} {{.Node}} {{.CurrentState}}'],
        60_000,
        exclude,
      )
    ).split('\n');
    for (const l of lines) {
      const [task, node, state] = l.split(' ');
      if (!task || !upNames.includes(node) || state !== 'Running') continue;
      const svc = task.slice(0, task.lastIndexOf('.'));
      running.set(svc, (running.get(svc) ?? 0) + 1);
    }
  }
  for (const s of services) {
    let want = s.global ? up.length : s.desired;
    const labelled = s.constraints.map((c) => /^node\.labels\.(\S+)\s*==\s*(\S+)$/.exec(c)).filter(Boolean) as RegExpExecArray[];
    if (labelled.length && !up.some((n) => labelled.every((m) => n.labels[m[1]] === m[2]))) continue;
    if (s.maxPerNode) want = Math.min(want, s.maxPerNode * up.length);
    const have = running.get(s.name) ?? 0;
    if (have < want) problems.push(`${s.name.replace(`${STACK}_`, '')} ${have}/${want}`);
  }
  return problems;
}

// ---------------------------------------------------------------- full strength
/**
 * The whole cluster as deployed: every node ready + active, 1 PG primary with 2 streaming standbys, 1 Redis master
 * with 2 replicas whose links are up, the one Sentinel names, every redis-proxy task routing to it, every service at
 * its desired replicas.
 *
 * In two steps, cheap first: the Swarm view (nodes, services: docker CLI runs against a manager), and only when that
 * is whole the data tiers (a `docker exec` per member, each a runc exec and psql/redis-cli logins: ~1.5 s of CPU for
 * one look at all of them). A drill waits minutes for full strength while the failover it waits for competes for
 * the same 2 cores; asking the members only once Swarm has every task back keeps that wait from loading them.
 */
export async function fullStrength(): Promise<{ ok: boolean; detail: string }> {
  const check = async (what: string, f: () => Promise<string[]>): Promise<string[]> => f().catch((err) => [`${what}: ${firstLine(err)}`]);
  const swarmView = (
    await Promise.all([
      check('nodes', async () => {
        const nodes = await swarmNodes();
        const bad = nodes.filter((n) => n.state !== 'ready' || n.availability !== 'active');
        return nodes.length < NODES.length || bad.length
          ? [`nodes ${bad.map((n) => `${n.hostname}=${n.state}/${n.availability}`).join(',') || nodes.length}`]
          : [];
      }),
      check('services', () => unscheduled()),
    ])
  ).flat();
  if (swarmView.length) return { ok: false, detail: swarmView.join('; ') };
  const parts = await Promise.all([
    check('pg', async () => {
      const roles = await pgRoles();
      const prim = Object.entries(roles)
        .filter(([, r]) => r === 'primary')
        .map(([n]) => n);
      if (prim.length !== 1 || Object.values(roles).filter((r) => r === 'standby').length !== 2) return [`pg roles ${JSON.stringify(roles)}`];
      const n = await execIn(await containerOf(prim[0]), ['psql', '-XAtc', "select count(*) from pg_stat_replication where state = 'streaming'"]);
      return n === '2' ? [] : [`pg streaming standbys ${n}`];
    }),
    check('redis', async () => {
      const members = await redisMembers();
      const masters = members.filter((m) => m.role === 'master');
      const replicas = members.filter((m) => m.role === 'slave' && m.linkUp);
      if (masters.length !== 1 || masters[0].connectedReplicas < 2 || replicas.length < 2)
        return [`redis masters=${masters.map((m) => `${m.member}(${m.connectedReplicas})`).join(',') || 'none'} replicas up=${replicas.length}`];
      const ip = (await redisCli(await containerOf('sentinel'), ['sentinel', 'get-master-addr-by-name', 'mymaster'], 26379)).split('\n')[0];
      return (await addressesOf(`${masters[0].c.node}/${masters[0].c.id}`)).includes(ip) ? [] : [`sentinel names ${ip}, not ${masters[0].member}`];
    }),
    check('redis-proxy', async () => {
      const out = await Promise.all(
        (await containersOf('redis-proxy')).map((c) =>
          execIn(c, ['/usr/local/bin/healthcheck.sh', '--strict']).then(
            () => '',
            (err) => `redis-proxy on ${c.node}: ${(err as { stdout?: string }).stdout?.toString().trim() || firstLine(err)}`,
          ),
        ),
      );
      return out.filter(Boolean);
    }),
  ]);
  const problems = parts.flat();
  return { ok: problems.length === 0, detail: problems.join('; ') };
}

/** the last `lines` lines (stdout and stderr) of each service's tasks, for the report of a failed check */
export async function recentLogs(services: string[], lines = 40): Promise<string> {
  const sock = socketOf(await manager());
  const one = (svc: string) =>
    new Promise<string>((resolve) =>
      execFile(
        'sh',
        ['-c', `docker -H "$1" service logs --no-trunc --tail ${lines} "$2" 2>&1 | tail -n ${lines}`, 'sh', sock, `${STACK}_${svc}`],
        { encoding: 'utf8', timeout: 30_000, maxBuffer: 16 << 20 },
        (_err, stdout) => resolve(`==== ${svc}\n${stdout ?? ''}`),
      ),
    );
  return (await Promise.all(services.map(one))).join('\n');
}

/**
 * Why services lag, for the report of a failed check: each one's recent tasks (node, desired and current state,
 * error) and the last lines of its logs.
 */
export async function whyLagging(services: string[], exclude: string[] = []): Promise<{ tasks: string; logs: string }> {
  const tasks = await Promise.all(
    services.map((svc) =>
      swarm(
        ['service', 'ps', '--no-trunc', `${STACK}_${svc}`, '--format', '{{.Name}} {{.Node}} desired={{.DesiredState}} {{.CurrentState}} {{.Error}}'],
        30_000,
        exclude,
      ).then(
        (out) => `==== ${svc} tasks\n${out.split('\n').slice(0, 8).join('\n')}`,
        (err: Error) => `==== ${svc} tasks: ${err.message.split('\n')[0]}`,
      ),
    ),
  );
  return { tasks: tasks.join('\n'), logs: await recentLogs(services, 30) };
}

export async function waitFullStrength(deadlineMs: number): Promise<{ ok: boolean; ms: number; detail: string }> {
  const t0 = Date.now();
  let last = { ok: false, detail: '' };
  while (Date.now() - t0 < deadlineMs) {
    last = await fullStrength();
    if (last.ok) return { ok: true, ms: Date.now() - t0, detail: '' };
    await sleep(5000);
  }
  return { ok: false, ms: Date.now() - t0, detail: last.detail };
}

/** polls `check` until it returns something other than false/undefined, or throws at the deadline naming `what` */
export async function until<T>(
  what: string,
  deadlineMs: number,
  check: () => Promise<T | false | undefined> | T | false | undefined,
  everyMs = 1000,
): Promise<T> {
  const t0 = Date.now();
  let lastErr = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== false && v !== undefined) return v as T;
    } catch (err) {
      lastErr = firstLine(err);
    }
    if (Date.now() - t0 > deadlineMs) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${lastErr ? ` (last error: ${lastErr})` : ''}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------- faults (on the host engine)
/**
 * A node lost the way a machine is lost (power, kernel): it falls silent first, then it is gone. `docker kill` alone
 * is not that: the node container's network namespace outlives its processes for a second or two while the kernel
 * tears them down, and meanwhile it answers every new connection to the addresses it held (the VIP) with a reset,
 * which no dead machine sends (seen: 24 requests refused on the VIP for 1.7 s before the backup's takeover).
 * Dropping INPUT and OUTPUT inside the node is not enough: a SYN to the VIP is DNATed to the NGINX container and
 * FORWARDed, and that container's own namespace, its NGINX already killed, can answer the reset (the likely source of
 * 11 reads refused in one CI run, whose log did not say which node held the VIP). So the node's links go down first: no frame in or out, not even ARP, until the VIP moves.
 */
export async function killNode(node: string): Promise<void> {
  await hostDocker(
    [
      'exec',
      node,
      'sh',
      '-c',
      'for i in /sys/class/net/eth*; do ip link set "${i##*/}" down; done; iptables -w -I INPUT 1 -j DROP; iptables -w -I OUTPUT 1 -j DROP; iptables -w -I FORWARD 1 -j DROP',
    ],
    10_000,
  ).catch(() => undefined);
  await hostDocker(['kill', node]);
}
/** starts a killed (or unpauses a paused) node container; no-op when it runs */
export async function startNode(node: string): Promise<void> {
  const st = await nodeStatus(node);
  if (st === 'paused') await hostDocker(['unpause', node], 60_000);
  else if (st !== 'running') await hostDocker(['start', node], 60_000);
}
/** waits until Swarm has the node Ready again (its engine restarted and rejoined) */
export async function waitNodeReady(node: string, deadlineMs = 120_000): Promise<number> {
  const t0 = Date.now();
  await until(`${node} Ready in the swarm`, deadlineMs, async () => (await swarmNodes()).some((n) => n.hostname === node && n.state === 'ready'), 2000);
  return Date.now() - t0;
}
/** which node holds an address (the VIP) on its bridge interface */
export async function holderOf(ip: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of NODES) {
    const a = await hostDocker(['exec', n, 'ip', '-o', '-4', 'addr', 'show'], 10_000).catch(() => '');
    if (a.includes(` ${ip}/`)) out.push(n);
  }
  return out;
}

const peersOf = (node: string) => NODES.filter((n) => n !== node).map(nodeIp);
const ruleSpecs = (node: string): string[][] =>
  peersOf(node).flatMap((p) => [
    ['INPUT', '-s', p, '-j', 'DROP'],
    ['OUTPUT', '-d', p, '-j', 'DROP'],
  ]);
/**
 * Cuts `node` off from the other nodes on the cluster bridge, both ways, inside the node container: everything
 * from or to a peer's address is dropped (Raft, gossip, the overlay's VXLAN, VRRP unicast). The host (the bridge's
 * gateway, where the test clients are) still reaches every node. VRRP multicast (224.0.0.18) is not a peer's
 * address: the isolated node's adverts still reach the peers (docs/CLUSTER.md "Drills" says what that does to the VIP).
 */
export async function partition(node: string): Promise<void> {
  for (const spec of ruleSpecs(node)) await hostDocker(['exec', node, 'iptables', '-I', ...spec]);
}
/** removes every rule partition() added (repeatedly, so it is idempotent: safe in after hooks) */
export async function heal(node: string): Promise<void> {
  if (!(await nodeRunning(node))) return;
  for (const spec of ruleSpecs(node)) {
    for (let i = 0; i < 10; i++) {
      const ok = await hostDocker(['exec', node, 'iptables', '-D', ...spec]).then(
        () => true,
        () => false,
      );
      if (!ok) break; // no such rule left
    }
  }
}
export async function setAvailability(node: string, availability: 'active' | 'drain', exclude: string[] = []): Promise<void> {
  await swarm(['node', 'update', '--availability', availability, node], 30_000, exclude);
}

/**
 * Drains `node` the way docs/CLUSTER.md tells an operator to: scripts/drain-node.sh (npm run node:drain) hands the
 * PostgreSQL primary over to another node first (scripts/pg-switchover.sh), then drains and waits until the node runs
 * no task of the stack. Resolves with the script's log; rejects with it when the script fails.
 */
export async function drainNode(node: string, timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      'bash',
      [new URL('../../scripts/drain-node.sh', import.meta.url).pathname, node],
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, CLUSTER: '1', STACK } },
      (err, stdout, stderr) => (err ? reject(new Error(`drain-node.sh ${node} failed: ${err.message}\n${stderr}`)) : resolve(`${stdout}${stderr}`)),
    ),
  );
}

/** leaves the cluster as a drill found it, whatever failed: every node running, unpartitioned and active */
export async function restoreCluster(): Promise<void> {
  for (const n of NODES) {
    try {
      await startNode(n);
      await heal(n);
    } catch (err) {
      process.stdout.write(`# restore ${n}: ${firstLine(err)}\n`);
    }
  }
  for (const n of NODES) {
    try {
      await waitNodeReady(n, 120_000);
      if ((await swarmNodes()).find((x) => x.hostname === n)?.availability !== 'active') await setAvailability(n, 'active');
    } catch (err) {
      process.stdout.write(`# restore ${n}: ${firstLine(err)}\n`);
    }
  }
}

// ---------------------------------------------------------------- load through a given edge
export type User = { client: Client; threadId: number };
/** n signed-in users, made through the VIP; with `edge`, their requests then go to that edge */
export async function users(n: number, tag: string, edge?: string, minTimeoutMs = 0): Promise<User[]> {
  // a sign-up on a machine still busy with the previous drill's recovery can exceed lib.ts's 5 s: try again
  let explained = false;
  const make = async (i: number) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await newUser(`${tag}${i}`);
      } catch (err) {
        if (attempt < 4) {
          await sleep(3000);
          continue;
        }
        // the api's session store is Redis (through redis-proxy): say how the tier stands, once
        if (/Session store/.test(String(err)) && !explained) {
          explained = true;
          await explainRedis('sign-up failed on the session store: the Redis tier');
        }
        throw err;
      }
    }
  };
  const us = await Promise.all(Array.from({ length: n }, (_, i) => make(i)));
  if (!edge) return us;
  return us.map((u) => {
    const c = new Client(edge, minTimeoutMs);
    c.cookies = new Map(u.client.cookies);
    return { client: c, threadId: u.threadId };
  });
}
export const readerClient = (): Client => new Client();

export interface Figures {
  rtoMs: number;
  failedWrites: number;
  failedReads: number;
  writes: number;
  reads: number;
  floodRefusals: number;
  acked: number;
  lost: number;
  writeErrors: string[];
  readErrors: string[];
  /** when each failed write started, in s after `from` */
  writeFailuresAtS: number[];
}
/** what a load saw from `from` on (requests started before it are not counted), and its lost acknowledged writes */
export async function figures(load: Load, from: number, reader: Client): Promise<Figures> {
  const f = load.failed(from);
  return {
    rtoMs: load.rto(from),
    failedWrites: f.writes,
    failedReads: f.reads,
    writes: load.writes.filter((e) => e.at >= from && !e.flood).length,
    reads: f.totalReads,
    floodRefusals: f.floodRefusals,
    acked: load.acked.length,
    lost: await lostWrites(load, reader),
    writeErrors: load.reasons(from, 'writes'),
    readErrors: load.reasons(from, 'reads'),
    writeFailuresAtS: load.failures(from, 'writes').map((e) => Math.round((e.at - from) / 100) / 10),
  };
}
const s = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : 'never');
/** the one line of figures a drill prints: `drill <name>: RTO <s> s, failed requests <n>/<total> (...), lost ...` */
export function drillLine(name: string, f: Figures, extra: Record<string, string | number> = {}): string {
  const failed = f.failedReads + f.failedWrites;
  const total = f.reads + f.writes;
  const pct = total ? ((100 * failed) / total).toFixed(2) : '0';
  const rest = Object.entries(extra)
    .map(([k, v]) => `, ${k} ${v}`)
    .join('');
  return `drill ${name}: RTO ${s(f.rtoMs)} s, failed requests ${failed}/${total} (${pct} %; reads ${f.failedReads}, writes ${f.failedWrites}), lost acknowledged writes ${f.lost}/${f.acked}${rest}`;
}
export const secs = s;

/** the bearer token of the autoscaler (secrets/autoscaler_token, as deployed) */
export const autoscalerToken = () => readFileSync(process.env.AUTOSCALER_TOKEN_FILE ?? 'secrets/autoscaler_token', 'utf8').trim();
export { EDGE_URL, edgeFailure, Load, STACK };

/** a long-running docker command (a probe inside a container): its stdout when it exits, whatever the exit code */
export function dockerOut(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    execFile('docker', args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 }, (_err, stdout) => resolve(stdout ?? ''));
  });
}
