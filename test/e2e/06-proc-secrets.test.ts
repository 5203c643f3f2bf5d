// No secret value appears in the environment (/proc/<pid>/environ) or the command line (/proc/<pid>/cmdline) of any
// process of any running container of the stack: the long-lived servers, their control loops, and whatever short
// child (psql, redis-cli, curl, a healthcheck) runs while the scan looks, over several rounds.
// The values looked for: secretValues() in support.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { docker, secretValues, stackContainers } from './support.js';

const secrets = secretValues();

/** Rounds of the scan and the pause between them: short children (healthchecks every 10 s, loops every few s). */
const ROUNDS = Number(process.env.PROC_SCAN_ROUNDS ?? 3);
const PAUSE_MS = Number(process.env.PROC_SCAN_PAUSE_MS ?? 2000);
/** The stack runs more than this many containers (a smaller number means the scan missed some). */
const MIN_CONTAINERS = Number(process.env.PROC_SCAN_MIN_CONTAINERS ?? 15);

// One shell reads every process's environ and cmdline (NULs as newlines), each after a header line
// `@@proc <pid> <environ|cmdline> <uid>:<gid> <comm>`; a file it cannot read while the process still exists gets
// `@@unreadable <pid> <kind> <uid>:<gid> <comm>`. An environ is readable only with the process's own uid and gid (or
// CAP_SYS_PTRACE, which `docker exec --privileged` cannot grant on every engine), so the scan runs first as root, then
// once as each uid:gid whose environ root could not read. The scanning shell skips itself.
const SCAN = `
for d in /proc/[0-9]*; do
  pid=\${d#/proc/}
  [ "$pid" = "$$" ] && continue
  read -r comm 2>/dev/null <"$d/comm" || continue
  u=; g=
  while read -r k a _; do case $k in Uid:) u=$a ;; Gid:) g=$a ;; esac; done 2>/dev/null <"$d/status"
  for kind in environ cmdline; do
    if out=$(tr '\\0' '\\n' <"$d/$kind" 2>/dev/null); then
      printf '@@proc %s %s %s:%s %s\\n%s\\n' "$pid" "$kind" "$u" "$g" "$comm" "$out"
    elif [ -d "$d" ]; then
      printf '@@unreadable %s %s %s:%s %s\\n' "$pid" "$kind" "$u" "$g" "$comm"
    fi
  done
done
`;

interface Proc {
  pid: string;
  kind: string;
  ids: string;
  comm: string;
  text: string;
  readable: boolean;
}

/** The processes of one container as SCAN read them (the text is compared, never printed). */
function parseScan(out: string): Proc[] {
  const procs: Proc[] = [];
  for (const line of out.split('\n')) {
    const head = /^@@(proc|unreadable) (\d+) (environ|cmdline) (\d*:\d*) (.*)$/.exec(line);
    if (head) procs.push({ pid: head[2], kind: head[3], ids: head[4], comm: head[5], text: '', readable: head[1] === 'proc' });
    else if (procs.length) procs[procs.length - 1].text += line + '\n';
  }
  return procs;
}

/** Every environ and cmdline of one container: read as root, then as each uid:gid root could not read; undefined
 * when the container cannot be exec'd into (it stopped meanwhile). */
async function scanContainer(id: string): Promise<Proc[] | undefined> {
  const exec = (user: string) => docker('exec', '-u', user, id, 'sh', '-c', SCAN).then(parseScan);
  let procs: Proc[];
  try {
    procs = await exec('0:0');
  } catch {
    return undefined;
  }
  const read = new Map<string, Proc>();
  for (const p of procs) if (p.readable) read.set(`${p.pid}/${p.kind}`, p);
  const owners = new Set(procs.filter((p) => !p.readable && p.ids !== ':').map((p) => p.ids));
  for (const ids of owners) {
    for (const p of await exec(ids).catch(() => [])) if (p.readable) read.set(`${p.pid}/${p.kind}`, p);
  }
  return [...read.values(), ...procs.filter((p) => !p.readable && !read.has(`${p.pid}/${p.kind}`))];
}

async function containerNames(ids: string[]): Promise<Map<string, string>> {
  const out = await docker('inspect', '--format', '{{.Id}} {{.Name}}', ...ids);
  const names = new Map<string, string>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [id, name] = line.split(' ');
    names.set(id.slice(0, 12), name.replace(/^\//, ''));
  }
  return names;
}

test('When the stack is deployed, then there are secret values to look for', () => {
  const names = secrets.map((s) => s.name);
  for (const n of [
    'pg_superuser_password',
    'pg_app_password',
    'pg_repmgr_password',
    'pg_monitor_password',
    'pgpool_admin_password',
    'redis_password',
    'influxdb_password',
  ]) {
    assert.ok(names.includes(n), n);
  }
});

test('When every process of every running container is read, then no environment or command line holds a secret value', async (t) => {
  const findings = new Map<string, string>();
  const unreadable = new Set<string>();
  const scanned = new Set<string>();
  let fileRefs = 0;
  let procsRead = 0;
  let ids: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    ids = await stackContainers();
    const names = await containerNames(ids).catch(() => new Map<string, string>());
    const scans = await Promise.all(ids.map(async (id) => ({ id, procs: await scanContainer(id) })));
    for (const { id, procs } of scans) {
      if (!procs) continue;
      scanned.add(id);
      const container = names.get(id.slice(0, 12)) ?? id;
      for (const p of procs) {
        const who = `${container} pid ${p.pid} (${p.comm})`;
        if (!p.readable) {
          unreadable.add(`${who}: ${p.kind} (uid:gid ${p.ids})`);
          continue;
        }
        procsRead++;
        if (p.kind === 'environ' && p.text.includes('_FILE=/run/secrets/')) fileRefs++;
        for (const s of secrets) if (p.text.includes(s.value)) findings.set(`${who}/${p.kind}/${s.name}`, `${who}: ${s.name} in its ${p.kind}`);
      }
    }
    if (round < ROUNDS) await new Promise((r) => setTimeout(r, PAUSE_MS));
  }
  t.diagnostic(`${scanned.size} containers, ${procsRead} environ/cmdline files read over ${ROUNDS} rounds`);
  // the scan itself works: it read every container still running, and the environments it read hold the secrets'
  // *_FILE paths
  const running = new Set(await stackContainers());
  const never = ids.filter((id) => running.has(id) && !scanned.has(id));
  assert.deepEqual(never, [], 'running containers the scan could not exec into');
  assert.ok(scanned.size >= MIN_CONTAINERS, `scanned ${scanned.size} containers`);
  assert.ok(fileRefs > 0, 'no environment read holds a *_FILE=/run/secrets/... path: the scan read nothing useful');
  const report = [...findings.values()];
  assert.deepEqual(report, [], `secret values in process environments or command lines:\n${report.join('\n')}`);
  // A process that even its own uid:gid cannot read (not dumpable: it changed its uid, as NGINX's workers do; or the
  // engine denies it: on a rootless or nested engine even root's own processes) cannot be read by any process of its
  // container either (none in the stack has CAP_SYS_PTRACE): named, not failed.
  if (unreadable.size) t.diagnostic(`not readable from inside the containers:\n${[...unreadable].join('\n')}`);
});
