// Member tests' helpers: observe the PostgreSQL and Redis clusters of the deployed stack through the docker CLI, stop a
// member, wipe its volume on whichever node holds it, start it again.
//
// Everything goes through the manager that DOCKER_HOST names, except `docker exec`, which only reaches the
// containers of that endpoint's own node. The queries therefore run over the overlay network from ANY member
// container that can be reached (`psql host=pg-N`, `redis-cli -h redis-N`); with NODE_DOCKER_HOST (a template such as
// ssh://root@{node} or unix:///run/forum-cluster/{node}/docker.sock, as scripts/deploy.sh takes it) the container is
// looked up on the engine of the node that runs it. A volume is wiped by a one-shot service pinned to the member's
// node label, so that needs no access to the node itself.
import { execFileSync, spawnSync } from 'node:child_process';
import { docker, redisSecretFor, STACK } from '../drills/lib.js';

export { STACK };
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NODE_DOCKER_HOST = process.env.NODE_DOCKER_HOST ?? '';

function dockerAt(endpoint: string, args: string[], timeoutMs = 30_000): string {
  const env = { ...process.env };
  if (endpoint) env.DOCKER_HOST = endpoint;
  return execFileSync('docker', args, { encoding: 'utf8', timeout: timeoutMs, env, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}
/** the Docker endpoint whose engine runs the service's task ('' = DOCKER_HOST's own) */
function engineOf(service: string): string {
  if (!NODE_DOCKER_HOST) return '';
  const node = docker(['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.Node}}', `${STACK}_${service}`]).split('\n')[0];
  return node ? NODE_DOCKER_HOST.replaceAll('{node}', node) : '';
}

/** Runs a shell command in the first running container of one of `services` that can be reached. */
export function execIn(services: string[], script: string, timeoutMs = 30_000): string {
  const errors: string[] = [];
  for (const s of services) {
    let id = '';
    let ep = '';
    try {
      ep = engineOf(s);
      id = dockerAt(ep, ['ps', '-q', '--filter', `name=${STACK}_${s}.`, '--filter', 'status=running']).split('\n')[0];
    } catch (err) {
      errors.push(`${s}: ${(err as Error).message.split('\n')[0]}`);
    }
    if (!id) continue;
    try {
      return dockerAt(ep, ['exec', id, 'sh', '-c', script], timeoutMs);
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      errors.push(`${s}: ${(e.stderr || e.message).toString().trim().split('\n').slice(-2).join(' ')}`);
    }
  }
  throw new Error(`no reachable container of ${services.join('/')} could run the check (${errors.join('; ') || 'none running'})`);
}

export const PG = ['pg-0', 'pg-1', 'pg-2'];
export const REDIS = ['redis-0', 'redis-1', 'redis-2'];

/** A psql query against member `host` over the network (as repmgr, from any running pg member); '' when it is down. */
export function pgAt(host: string, sql: string, db = 'repmgr', from = PG): string {
  const q = sql.replace(/'/g, `'"'"'`);
  return execIn(from, `psql "host=${host} port=5432 user=repmgr dbname=${db} connect_timeout=3" -XAtqc '${q}' 2>/dev/null || true`);
}

export interface PgState {
  roles: Record<string, string>;
  primaries: string[];
  /** application names of the standbys streaming from the primary (when there is exactly one) */
  streaming: string[];
  /** pg_control_system().system_identifier per member that answers */
  systemIds: Record<string, string>;
}
export function pgState(from = PG): PgState {
  const out = execIn(
    from,
    `for n in ${PG.join(' ')}; do
       r=$(psql "host=$n port=5432 user=repmgr dbname=repmgr connect_timeout=3" -XAtqc "select case when pg_is_in_recovery() then 'standby' else 'primary' end || ' ' || system_identifier from pg_control_system()" 2>/dev/null)
       echo "$n \${r:-down -}"
     done`,
  );
  const roles: Record<string, string> = {};
  const systemIds: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const [n, role, id] = line.trim().split(/\s+/);
    roles[n] = role;
    if (id && id !== '-') systemIds[n] = id;
  }
  const primaries = Object.keys(roles).filter((n) => roles[n] === 'primary');
  let streaming: string[] = [];
  if (primaries.length === 1) {
    const s = pgAt(
      primaries[0],
      "select string_agg(application_name, ',' order by application_name) from pg_stat_replication where state = 'streaming'",
      'repmgr',
      from,
    );
    streaming = s ? s.split(',') : [];
  }
  return { roles, primaries, streaming, systemIds };
}
/** '' when whole: one primary, both others streaming from it, one system identifier */
export function pgWhy(s: PgState): string {
  if (s.primaries.length !== 1) return `primaries ${JSON.stringify(s.roles)}`;
  const others = PG.filter((n) => n !== s.primaries[0]);
  if (others.some((n) => !s.streaming.includes(n))) return `${s.primaries[0]} streams to [${s.streaming}]`;
  const ids = new Set(Object.values(s.systemIds));
  if (ids.size !== 1 || Object.keys(s.systemIds).length !== 3) return `system identifiers ${JSON.stringify(s.systemIds)}`;
  return '';
}

// the password on stdin (--askpass), never in REDISCLI_AUTH (the container's /proc/<pid>/environ) nor -a: a Redis
// node's default user (the operator's, held by the Redis tasks only), or a Sentinel's own password. Both exist in a
// Redis task, hence the Redis members first in every execIn list here; a Sentinel task holds only its own.
const cli = (port: number) => `redis-cli --askpass --no-auth-warning -p ${port} </run/secrets/${redisSecretFor(port)}`;
export interface RedisState {
  /** role per member (master / slave / down), with the master a replica follows */
  roles: Record<string, string>;
  ips: Record<string, string>;
  masters: string[];
  sentinelMaster: string;
  /** members the (single) master lists as online replicas */
  online: string[];
  /** master_link_status per replica */
  link: Record<string, string>;
}
export function redisState(): RedisState {
  const out = execIn(
    [...REDIS, 'sentinel'],
    `echo "sentinel $(${cli(26379)} -h sentinel sentinel get-master-addr-by-name mymaster | head -1)"
     for n in ${REDIS.join(' ')}; do
       ip=$(getent ahostsv4 $n | awk 'NR==1{print $1}')
       info=$(${cli(6379)} -h $n info replication 2>/dev/null | tr -d '\\r' | tr '\\n' ' ')
       echo "$n \${ip:--} \${info:-role:down}"
     done`,
  );
  const roles: Record<string, string> = {};
  const ips: Record<string, string> = {};
  const link: Record<string, string> = {};
  let sentinelMaster = '';
  const infos: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const [n, ip, ...rest] = line.trim().split(/\s+/);
    if (n === 'sentinel') {
      sentinelMaster = ip ?? '';
      continue;
    }
    const info = rest.join(' ');
    infos[n] = info;
    ips[n] = ip;
    roles[n] = /role:(\w+)/.exec(info)?.[1] ?? 'down';
    const l = /master_link_status:(\w+)/.exec(info)?.[1];
    if (l) link[n] = l;
  }
  const masters = REDIS.filter((n) => roles[n] === 'master');
  const online =
    masters.length === 1 ? REDIS.filter((n) => new RegExp(`ip=${ips[n]?.replace(/\./g, '\\.')},port=\\d+,state=online`).test(infos[masters[0]])) : [];
  return { roles, ips, masters, sentinelMaster, online, link };
}
/** '' when whole: one master, Sentinel names it, both others online replicas with their link up */
export function redisWhy(s: RedisState): string {
  if (s.masters.length !== 1) return `masters ${JSON.stringify(s.roles)}`;
  const m = s.masters[0];
  if (s.sentinelMaster !== s.ips[m]) return `sentinel names ${s.sentinelMaster}, ${m} is ${s.ips[m]}`;
  const others = REDIS.filter((n) => n !== m);
  if (others.some((n) => !s.online.includes(n) || s.link[n] !== 'up')) return `${m} online replicas [${s.online}] links ${JSON.stringify(s.link)}`;
  return '';
}
/** redis-cli against `host` (a Redis node, or `sentinel` with port 26379) */
export function redisCli(host: string, args: string, port = 6379): string {
  return execIn([...REDIS, 'sentinel'], `${cli(port)} -h ${host} ${args}`);
}

/** Polls `why` (returns '' when done) until the deadline; prints progress every 15 s. Returns the time taken. */
export async function waitUntil(what: string, deadlineMs: number, why: () => string): Promise<number> {
  const t0 = Date.now();
  let last = '';
  let said = 0;
  for (;;) {
    try {
      last = why();
    } catch (err) {
      last = (err as Error).message;
    }
    if (!last) return Date.now() - t0;
    if (Date.now() - t0 > deadlineMs) throw new Error(`${what}: not within ${deadlineMs / 1000} s: ${last}`);
    if (Date.now() - said > 15_000) {
      said = Date.now();
      process.stdout.write(`# waiting ${Math.round((Date.now() - t0) / 1000)} s for ${what}: ${last}\n`);
    }
    await sleep(2000);
  }
}

function replicas(member: string): string {
  return (
    docker(['service', 'ls', '--filter', `name=${STACK}_${member}`, '--format', '{{.Name}} {{.Replicas}}'])
      .split('\n')
      .find((l) => l.startsWith(`${STACK}_${member} `))
      ?.split(' ')[1] ?? '?'
  );
}
/** Scales the member's service to 0 and waits until no task of it runs. */
export async function stopMember(member: string): Promise<void> {
  docker(['service', 'scale', '--detach', `${STACK}_${member}=0`]);
  await waitUntil(`${member} stopped`, 120_000, () => {
    const running = docker(['service', 'ps', `${STACK}_${member}`, '--filter', 'desired-state=running', '-q']);
    const r = replicas(member);
    return r === '0/0' && !running ? '' : `replicas ${r}`;
  });
}
export function startMember(member: string): void {
  docker(['service', 'scale', '--detach', `${STACK}_${member}=1`]);
}
/**
 * Empties the member's volume (<stack>_<member>-data) on the node that holds its label, with a one-shot service
 * running the member's own image there as root: works through any manager, without access to that node.
 */
export async function wipeVolume(member: string, mountPoint: string): Promise<void> {
  const image = docker(['service', 'inspect', `${STACK}_${member}`, '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}']);
  const name = `${STACK}-wipe-${member}-${Date.now().toString(36)}`;
  docker([
    'service',
    'create',
    '--detach',
    '--name',
    name,
    '--restart-condition',
    'none',
    '--no-resolve-image',
    '--constraint',
    `node.labels.forum.${member}==true`,
    '--user',
    'root',
    '--entrypoint',
    'sh',
    '--mount',
    `type=volume,source=${STACK}_${member}-data,target=${mountPoint}`,
    image,
    '-c',
    `find ${mountPoint} -mindepth 1 -delete && test -z "$(ls -A ${mountPoint})"`,
  ]);
  try {
    await waitUntil(`wipe of ${member}'s volume`, 120_000, () => {
      const st = docker(['service', 'ps', name, '--format', '{{.CurrentState}} {{.Error}}']).split('\n')[0] ?? '';
      if (/^Complete/.test(st)) return '';
      if (/^(Failed|Rejected)/.test(st)) throw new Error(`wipe task: ${st}`);
      return st || 'no task yet';
    });
  } finally {
    docker(['service', 'rm', name]);
  }
}
/** the member's log lines since `since` (docker service logs goes through the manager) */
function memberLogsNow(member: string, since: Date): string {
  // filtered here by each line's Docker timestamp: the 20.10 CLI's `service logs --since` returned nothing on this
  // host, absolute or relative; the containers' stderr (where the entrypoints log) comes out on the CLI's stderr
  const r = spawnSync('docker', ['service', 'logs', '--raw', '--timestamps', `${STACK}_${member}`], {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 256 << 20,
  });
  if (r.status !== 0) throw new Error(`docker service logs ${STACK}_${member}: ${r.stderr || r.error?.message}`);
  return `${r.stdout}\n${r.stderr}`
    .split('\n')
    .filter((l) => {
      const t = Date.parse(l.slice(0, l.indexOf(' ')));
      return Number.isFinite(t) && t >= since.getTime();
    })
    .join('\n');
}

/**
 * The member's log lines since `since`, once every pattern of `expect` is in them or after `deadlineMs`: Swarm's log
 * broker gathers a task's lines from its node some seconds after they were written.
 */
export async function memberLogs(member: string, since: Date, expect: RegExp[] = [], deadlineMs = 60_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const logs = memberLogsNow(member, since);
    if (expect.every((re) => re.test(logs)) || Date.now() - t0 > deadlineMs) return logs;
    await sleep(2000);
  }
}
