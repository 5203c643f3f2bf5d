#!/usr/bin/env node
// Rolls the data tier of an EXISTING stack one member at a time, before the full `docker stack deploy`.
//
// Why: pg-0..2 and redis-0..2 are separate single-replica services. `docker stack deploy` updates every changed
// service at once, so a new postgres image (or a changed secret) would restart all three PostgreSQL nodes
// together: no primary, no standby, a full outage and a cold re-election. Here each member whose spec changes is
// deployed on its own (a stack file holding only that service, no --prune), replicas/standbys first and the
// current primary/master last, and the next one starts only when the cluster is whole again (PG: the primary
// streams to 2 standbys; Redis: the master has 2 connected replicas). The full deploy that follows then finds
// these services already up to date and leaves them alone.
//
// What counts as a change: every member carries the label forum.spec-hash, a hash of its whole rendered service
// definition (image, env, secrets, restart policy, resources, healthcheck...). A member without the label (a stack
// deployed before it existed) is compared by image, env, secrets and configs. The script writes the rendered
// stack file with the labels added to <rendered-stack.yml>.labelled.yml: deploy.sh deploys that file, so the
// labels stay in place. (Comparing only the container spec once missed a restart-policy change, and the full
// deploy then restarted all three Redis nodes and all three sentinels at once.)
//
// Usage: node scripts/lib/roll-data-tier.mjs <stack> <rendered-stack.yml>   (env: ROLL_TIMEOUT seconds per member)
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

const [stack, rendered] = process.argv.slice(2);
if (!stack || !rendered) {
  console.error('usage: roll-data-tier.mjs <stack> <rendered-stack.yml>');
  process.exit(64);
}
const TIMEOUT_MS = Number(process.env.ROLL_TIMEOUT ?? 300) * 1000;
const t0 = Date.now();
const log = (m) => process.stderr.write(`[roll] ${m}\n`);
const sh = (args, timeout = 30_000) => execFileSync('docker', args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const trySh = (args) => {
  try {
    return sh(args);
  } catch {
    return '';
  }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// deploy.sh passes STACK_DEPLOY_DETACH=--detach=true when this CLI knows the flag
const DETACH = process.env.STACK_DEPLOY_DETACH ? [process.env.STACK_DEPLOY_DETACH] : [];
const doc = parse(readFileSync(rendered, 'utf8'), { version: '1.1' });
const LABEL = 'forum.spec-hash';
const MEMBERS = ['pg-0', 'pg-1', 'pg-2', 'redis-0', 'redis-1', 'redis-2'];
/** the hash of a member's whole rendered service definition; added to its deploy labels */
for (const m of MEMBERS) {
  const svc = doc.services[m];
  if (!svc) continue;
  const hash = createHash('sha256').update(JSON.stringify(svc)).digest('hex').slice(0, 16);
  svc.deploy = { ...(svc.deploy ?? {}), labels: { ...(svc.deploy?.labels ?? {}), [LABEL]: hash } };
}
const labelled = `${rendered}.labelled.yml`;
writeFileSync(labelled, stringify(doc, { version: '1.1', lineWidth: 0 }));
/** true when the running member differs from the wanted one */
function differs(name) {
  const out = trySh(['service', 'inspect', `${stack}_${name}`, '--format', '{{json .Spec.Labels}}']);
  if (!out) return false; // not deployed yet: the full deploy creates it
  const have = JSON.parse(out)?.[LABEL];
  if (have) return have !== doc.services[name].deploy.labels[LABEL];
  const cur = current(name);
  return !!cur && !same(cur, wanted(name));
}

/** What decides whether swarm would restart the task: image, env, secret and config objects, mounts. */
function wanted(name) {
  const s = doc.services[name];
  const env = Array.isArray(s.environment) ? s.environment : Object.entries(s.environment ?? {}).map(([k, v]) => `${k}=${v ?? ''}`);
  const objName = (kind, ref) => doc[kind]?.[typeof ref === 'string' ? ref : ref.source]?.name ?? `${stack}_${typeof ref === 'string' ? ref : ref.source}`;
  return {
    image: s.image,
    env: [...env].sort(),
    secrets: (s.secrets ?? []).map((r) => objName('secrets', r)).sort(),
    configs: (s.configs ?? []).map((r) => objName('configs', r)).sort(),
  };
}
function current(name) {
  const out = trySh(['service', 'inspect', `${stack}_${name}`, '--format', '{{json .Spec.TaskTemplate.ContainerSpec}}']);
  if (!out) return undefined;
  const c = JSON.parse(out);
  return {
    image: String(c.Image ?? '').replace(/@sha256:.*$/, ''),
    env: [...(c.Env ?? [])].sort(),
    secrets: (c.Secrets ?? []).map((x) => x.SecretName).sort(),
    configs: (c.Configs ?? []).map((x) => x.ConfigName).sort(),
  };
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// A member's container lives on its node's engine. The manager's engine sees only its own containers, so with
// NODE_DOCKER_HOST (a template such as ssh://root@{node}, or the test cluster's unix:///run/forum-cluster/{node}/
// docker.sock) the container is looked up and exec'd on the engine of the node that runs the task.
const NODE_DOCKER_HOST = process.env.NODE_DOCKER_HOST ?? '';
function engineOf(name) {
  if (!NODE_DOCKER_HOST) return [];
  const node = trySh(['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.Node}}', `${stack}_${name}`]).split('\n')[0];
  return node ? ['-H', NODE_DOCKER_HOST.replaceAll('{node}', node)] : [];
}
/** ['-H', <engine>, <container id>] (or [<container id>] on a single engine); undefined when not running */
function container(name) {
  const h = engineOf(name);
  const id = trySh([...h, 'ps', '-q', '--filter', `name=${stack}_${name}.`, '--filter', 'status=running'])
    .split('\n')
    .filter(Boolean)[0];
  return id ? [...h, id] : undefined;
}
const execIn = (c, cmd) => (c ? trySh([...c.slice(0, -1), 'exec', c.at(-1), ...cmd]) : '');

const tiers = {
  postgres: {
    members: ['pg-0', 'pg-1', 'pg-2'],
    /** fence.sh (in the postgres image) prints "<node> <role>" for each node, as repmgr sees them */
    roles() {
      for (const m of this.members) {
        const out = execIn(container(m), ['fence.sh']);
        if (out) return Object.fromEntries(out.split('\n').map((l) => l.trim().split(/\s+/)));
      }
      return {};
    },
    leader(roles) {
      return Object.entries(roles).find(([, r]) => r === 'primary')?.[0];
    },
    whole() {
      const roles = this.roles();
      const p = this.leader(roles);
      if (!p || Object.values(roles).filter((r) => r === 'standby').length !== 2) return `roles ${JSON.stringify(roles)}`;
      const n = execIn(container(p), ['psql', '-XAtc', "select count(*) from pg_stat_replication where state = 'streaming'"]);
      return n === '2' ? '' : `${p} streams to ${n || '?'} standbys`;
    },
  },
  redis: {
    members: ['redis-0', 'redis-1', 'redis-2'],
    info(m) {
      return execIn(container(m), ['sh', '-c', 'redis-cli --askpass --no-auth-warning info replication </run/secrets/redis_password']);
    },
    roles() {
      return Object.fromEntries(this.members.map((m) => [m, /role:(\w+)/.exec(this.info(m))?.[1] ?? 'down']));
    },
    leader(roles) {
      return Object.entries(roles).find(([, r]) => r === 'master')?.[0];
    },
    whole() {
      const roles = this.roles();
      const m = this.leader(roles);
      if (!m) return `roles ${JSON.stringify(roles)}`;
      const n = /connected_slaves:(\d+)/.exec(this.info(m))?.[1];
      return n === '2' ? '' : `${m} has ${n ?? '?'} connected replicas`;
    },
  },
};

/** How long a deployed spec may take to start its update before the member is judged as it stands (no change). */
const UPDATE_START_MS = 30_000;

async function waitWhole(tier, name, since) {
  const deadline = Date.now() + TIMEOUT_MS;
  let why = '';
  for (;;) {
    const [st = '', startedAt = ''] = trySh([
      'service',
      'inspect',
      `${stack}_${name}`,
      '--format',
      '{{if .UpdateStatus}}{{.UpdateStatus.State}} {{json .UpdateStatus.StartedAt}}{{end}}',
    ]).split(' ');
    // the update of THIS deploy must have started: right after `stack deploy` the service still shows the previous
    // update's `completed` and its old task, and the tier is whole, so the member counted as updated at once (pg-2,
    // "whole again (1 s)") and the leader was stopped while pg-2's restart was still to come: no majority to promote
    if (!(Date.parse(startedAt.replaceAll('"', '')) >= since - 1000) && Date.now() - since < UPDATE_START_MS) {
      await sleep(1000);
      continue;
    }
    const reps = trySh(['service', 'ls', '--filter', `name=${stack}_${name}`, '--format', '{{.Name}} {{.Replicas}}'])
      .split('\n')
      .find((l) => l.startsWith(`${stack}_${name} `))
      ?.split(' ')[1];
    if (st === 'rollback_completed' || st === 'paused' || st === 'rollback_started') {
      throw new Error(`${name}: update ${st}`);
    }
    why = st === 'updating' ? 'updating' : reps !== '1/1' ? `replicas ${reps}` : tier.whole();
    if (!why) return;
    if (Date.now() > deadline) throw new Error(`${name}: cluster not whole within ${TIMEOUT_MS / 1000}s after its update (${why})`);
    await sleep(2000);
  }
}

for (const [tierName, tier] of Object.entries(tiers)) {
  const changed = tier.members.filter(differs);
  if (!changed.length) continue;
  const leader = tier.leader(tier.roles());
  // followers first, the leader last (its update is a failover the cluster absorbs while it is otherwise whole)
  changed.sort((a, b) => (a === leader) - (b === leader));
  log(`${tierName}: ${changed.join(', ')} changed; rolling them one at a time (leader ${leader ?? 'unknown'} last)`);
  const pre = tier.whole();
  if (pre) log(`${tierName}: not whole before the roll (${pre}); rolling anyway`);
  for (const m of changed) {
    const part = { ...doc, services: { [m]: doc.services[m] } };
    const file = `${rendered}.${m}.yml`;
    writeFileSync(file, stringify(part, { version: '1.1', lineWidth: 0 }));
    const since = Date.now();
    log(`${m}: deploying its new spec`);
    // --detach exists from CLI 26 on (which waits by default); older CLIs never wait
    sh(['stack', 'deploy', '-c', file, '--resolve-image', 'never', ...DETACH, stack], 120_000);
    await waitWhole(tier, m, since);
    log(`${m}: updated, ${tierName} whole again (${Math.round((Date.now() - since) / 1000)} s)`);
  }
}
log(`data tier up to date (${Math.round((Date.now() - t0) / 1000)} s)`);
