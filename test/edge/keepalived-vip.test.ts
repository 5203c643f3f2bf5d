// The keepalived VIP in front of two edges, on this machine: four network namespaces on a private bridge
// (two edge hosts running a REAL nginx + REAL keepalived with the config rendered by images/keepalived, a client,
// and an intruder), 192.0.2.0/24 (TEST-NET-1) inside them only. Measures how long the VIP takes to move.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, startProcess, tempDir, waitFor, type Proc } from './lib/harness.js';

const NS = { sw: 'edge-ka-sw', a: 'edge-ka-a', b: 'edge-ka-b', client: 'edge-ka-c', intruder: 'edge-ka-x' };
const ADDR: Record<string, string> = { a: '192.0.2.11', b: '192.0.2.12', client: '192.0.2.100', intruder: '192.0.2.66' };
const VIP = '192.0.2.50';
const PASS = 'vrrp-s3c'; // 8 chars, VRRPv2 PASS
const work = tempDir('edge-ka-');
const procs: Proc[] = [];
const nginx: Record<string, Proc | undefined> = {};
const keepalived: Record<string, Proc> = {};
const report: string[] = [];

function sh(...args: string[]) {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const inNs = (ns: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, ...args);
const hasVip = (node: 'a' | 'b') => sh('ip', '-n', NS[node], '-o', '-4', 'addr', 'show').includes(`${VIP}/24`);

function cleanupNetns() {
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
}

function startNginx(node: 'a' | 'b' | 'client') {
  const dir = join(work.dir, `nginx-${node}`);
  sh('mkdir', '-p', dir);
  const conf = work.file(
    `nginx-${node}.conf`,
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log notice;
events { worker_connections 256; }
http {
  access_log off;
  keepalive_timeout 0;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen 80;
    location = /nginx-health { if (-f ${dir}/draining) { return 503 'draining'; } return 200 'ok'; }
    location / { return 200 '${node}'; }
  }
}
`,
    0o644,
  );
  const p = startProcess('ip', ['netns', 'exec', NS[node], 'nginx', '-c', conf, '-p', dir, '-g', 'daemon off;']);
  procs.push(p);
  nginx[node] = p;
  return p;
}

function startKeepalived(node: 'a' | 'b' | 'intruder', priority: number, pass = PASS, extraEnv: Record<string, string> = {}) {
  const dir = join(work.dir, `ka-${node}`);
  sh('mkdir', '-p', dir);
  work.file(`ka-${node}.pass`, pass);
  const p = startProcess('ip', ['netns', 'exec', NS[node], join(REPO, 'images/keepalived/entrypoint.sh')], {
    env: {
      PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
      KEEPALIVED_NODE: `edge-${node}`,
      KEEPALIVED_PRIORITIES: `edge-a=110,edge-b=105,edge-intruder=${priority}`,
      KEEPALIVED_VIRTUAL_IPS: `${VIP}/24`,
      KEEPALIVED_INTERFACE: 'eth0',
      KEEPALIVED_AUTH_PASS_FILE: join(work.dir, `ka-${node}.pass`),
      KEEPALIVED_CHECK_URL: 'http://127.0.0.1/nginx-health',
      KEEPALIVED_CHECK_SCRIPT: join(REPO, 'images/keepalived/check-nginx.sh'),
      KEEPALIVED_SCRIPT_USER: 'nobody',
      KEEPALIVED_CONF: join(dir, 'keepalived.conf'),
      KEEPALIVED_RUN_DIR: dir,
      ...extraEnv,
    },
  });
  procs.push(p);
  keepalived[node] = p;
  return p;
}

before(async () => {
  chmodSync(work.dir, 0o755); // NGINX workers (nobody) stat the drain file
  cleanupNetns();
  sh('ip', 'netns', 'add', NS.sw);
  inNs(NS.sw, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
  inNs(NS.sw, 'ip', 'link', 'set', 'br0', 'up');
  for (const node of ['a', 'b', 'client', 'intruder'] as const) {
    const ns = NS[node];
    sh('ip', 'netns', 'add', ns);
    sh('ip', 'link', 'add', `ka-${node}`, 'netns', NS.sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    inNs(NS.sw, 'ip', 'link', 'set', `ka-${node}`, 'master', 'br0', 'up');
    inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    inNs(ns, 'ip', 'addr', 'add', `${ADDR[node]}/24`, 'dev', 'eth0');
    inNs(ns, 'ip', 'link', 'set', 'eth0', 'up');
  }
  startNginx('a');
  startNginx('b');
  for (const node of ['a', 'b'] as const) {
    await waitFor(`nginx ${node}`, () => inNs(NS[node], 'curl', '-fsS', 'http://127.0.0.1/nginx-health') === 'ok');
  }
});

after(async () => {
  for (const p of procs.reverse()) await p.stop('SIGTERM', 5000);
  cleanupNetns();
  work.remove();
  if (report.length) process.stdout.write(`${report.map((l) => `# ${l}`).join('\n')}\n`);
});

test('When the rendered config is wrong, then setup names every problem and exits 1', () => {
  const r = spawnSync(join(REPO, 'images/keepalived/keepalived-setup.sh'), [], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      KEEPALIVED_VIRTUAL_IPS: '192.0.2.500/24,abc',
      KEEPALIVED_PRIORITY: '300',
      KEEPALIVED_INTERFACE: 'nope0',
      KEEPALIVED_AUTH_PASS: 'far-too-long-password',
      KEEPALIVED_ROUTER_ID: '0',
      KEEPALIVED_CONF: join(work.dir, 'bad.conf'),
    },
  });
  assert.equal(r.status, 1);
  // one JSON line per problem: the quotes in the messages arrive escaped
  for (const m of [
    /KEEPALIVED_PRIORITY=300/,
    /\\"192\.0\.2\.500\/24\\"/,
    /\\"abc\\"/,
    /nope0 does not exist/,
    /at most 8 characters/,
    /KEEPALIVED_ROUTER_ID=0/,
  ])
    assert.match(r.stderr, m);
});

test('When both edges run, then the higher-priority node holds the VIP and the rendered config has auth, 1 s adverts and the -10 check', async () => {
  startKeepalived('a', 110);
  startKeepalived('b', 105);
  await waitFor('VIP on a', () => hasVip('a') && !hasVip('b'), 15000);
  const conf = readFileSync(join(work.dir, 'ka-a/keepalived.conf'), 'utf8');
  for (const m of [/auth_type PASS/, /auth_pass vrrp-s3c/, /advert_int 1\b/, /weight -10/, /priority 110/, /state BACKUP/, /track_script/])
    assert.match(conf, m);
  assert.doesNotMatch(conf, /nopreempt/);
  assert.equal(inNs(NS.client, 'curl', '-fsS', '--max-time', '2', `http://${VIP}/`), 'a');
});

test('When an unauthenticated peer advertises a higher priority, then the VIP stays where it is', async () => {
  const x = startKeepalived('intruder', 250, 'wrongpw');
  // the intruder has no NGINX, so its check fails: 250 - 10 = 240, still far above both edges
  await waitFor('the intruder advertises', () => /Entering MASTER STATE/.test(x.output()), 8000);
  await waitFor('the edges reject its adverts', () => /invalid passwd/.test(keepalived.a.output()) && /invalid passwd/.test(keepalived.b.output()), 5000);
  assert.ok(hasVip('a'), 'a keeps the VIP');
  assert.ok(!hasVip('b'), 'b stays backup');
  assert.doesNotMatch(keepalived.a.output(), /higher priority 2[0-9][0-9]/);
  await x.stop();
});

test('When the master NGINX stops, then the VIP moves within 3 s, requests keep succeeding, and it moves back', async () => {
  const probe = startProcess('ip', ['netns', 'exec', NS.client, process.execPath, join(REPO, 'test/edge/lib/vip-probe.mjs'), `http://${VIP}/`, '50']);
  procs.push(probe);
  const results = () =>
    probe
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { t: number; ms: number; ok: boolean; body?: string; err?: string });
  await waitFor('probe answered by a', () => results().filter((r) => r.ok && r.body === 'a').length >= 10, 10000);

  // --- failover
  const tStop = Date.now();
  await nginx.a!.stop('SIGTERM');
  const tMoved = await waitFor('VIP on b', () => hasVip('b') && Date.now(), 10000, 10);
  const switchover = tMoved - tStop;
  await waitFor('VIP gone from a', () => !hasVip('a'), 3000, 10);
  await waitFor('b answers', () => results().filter((r) => r.t > tMoved && r.ok && r.body === 'b').length >= 10, 5000);
  const during = results().filter((r) => r.t >= tStop);
  const failed = during.filter((r) => !r.ok);
  const lastFail = failed.length ? failed[failed.length - 1].t - tStop : 0;
  report.push(
    `failover: VIP on b ${switchover} ms after NGINX on a stopped; ${failed.length} of ${during.length} probe requests failed (50 ms apart), the last one started ${lastFail} ms after the stop`,
  );
  assert.ok(switchover < 3000, `switchover ${switchover} ms`);
  assert.ok(
    failed.every((r) => r.t < tMoved + 300),
    'no failures once the VIP moved',
  );

  // --- NGINX returns: preemption hands the VIP back to a
  const tBack = Date.now();
  startNginx('a');
  const tReturned = await waitFor('VIP back on a', () => hasVip('a') && !hasVip('b') && Date.now(), 10000, 10);
  await waitFor('a answers again', () => results().filter((r) => r.t > tReturned && r.ok && r.body === 'a').length >= 10, 5000);
  const back = results().filter((r) => r.t >= tBack);
  const failedBack = back.filter((r) => !r.ok);
  report.push(
    `failback: VIP back on a ${tReturned - tBack} ms after its NGINX restarted (check rise 2 x 1 s); ${failedBack.length} of ${back.length} probe requests failed`,
  );
  // preemption: connections in flight on b when it drops the VIP may fail
  assert.ok(failedBack.length <= 3, `failed during failback: ${JSON.stringify(failedBack)}`);

  // --- planned stop: the nginx-agent drain (health 503 first, NGINX stops NGINX_DRAIN_SECONDS later)
  const drainFile = join(work.dir, 'nginx-a/draining');
  const tDrain = Date.now();
  writeFileSync(drainFile, 'draining');
  const tDrained = await waitFor('VIP on b after drain', () => hasVip('b') && Date.now(), 10000, 10);
  await new Promise((r) => setTimeout(r, 3000 - (Date.now() - tDrain))); // NGINX_DRAIN_SECONDS=3
  await nginx.a!.stop('SIGQUIT');
  await waitFor('b answers after the planned stop', () => results().filter((r) => r.t > Date.now() - 1000 && r.ok && r.body === 'b').length >= 10, 5000);
  const planned = results().filter((r) => r.t >= tDrain);
  const failedPlanned = planned.filter((r) => !r.ok);
  report.push(
    `planned stop (drain): VIP on b ${tDrained - tDrain} ms after the drain began; ${failedPlanned.length} of ${planned.length} probe requests failed`,
  );
  assert.ok(tDrained - tDrain < 3000);
  assert.equal(failedPlanned.length, 0, JSON.stringify(failedPlanned));
  rmSync(drainFile);
  startNginx('a');
  await waitFor('VIP back on a after the planned stop', () => hasVip('a') && !hasVip('b'), 10000);
  await probe.stop();
});

test('When the master keepalived is stopped (node maintenance), then the backup takes the VIP within 3 s', async () => {
  const t = Date.now();
  await keepalived.a.stop('SIGTERM');
  const moved = await waitFor('VIP on b', () => hasVip('b') && Date.now(), 10000, 10);
  report.push(`keepalived stop on a: VIP on b after ${moved - t} ms`);
  assert.ok(moved - t < 3000);
});

test('When the master is cut off from its peers while its adverts still reach them, then it drops the VIP and a majority node takes it', async () => {
  // a partition that lets VRRP's multicast through (the peers keep hearing the old master) but no unicast traffic:
  // without the quorum check the old master keeps the VIP and its clients for the whole partition
  await keepalived.b.stop('SIGTERM');
  startNginx('client'); // the third member of the quorum group: something listens on its port 80
  await waitFor('client nginx', () => inNs(NS.client, 'curl', '-fsS', 'http://127.0.0.1/nginx-health') === 'ok');
  const quorum = {
    KEEPALIVED_QUORUM_PEERS: [ADDR.a, ADDR.b, ADDR.client].join(','),
    KEEPALIVED_QUORUM_PORT: '80',
    KEEPALIVED_QUORUM_SCRIPT: join(REPO, 'images/keepalived/check-quorum.sh'),
  };
  startKeepalived('a', 110, PASS, quorum);
  startKeepalived('b', 105, PASS, quorum);
  await waitFor('VIP on a', () => hasVip('a') && !hasVip('b'), 15000);
  assert.match(readFileSync(join(work.dir, 'ka-a/keepalived.conf'), 'utf8'), /check-quorum\.sh 80 192\.0\.2\.12 192\.0\.2\.100"/);

  const cut = (op: '-A' | '-D') => {
    inNs(NS.a, 'iptables', op, 'OUTPUT', '-o', 'eth0', '-p', 'tcp', '-j', 'DROP');
    inNs(NS.a, 'iptables', op, 'INPUT', '-i', 'eth0', '-p', 'tcp', '-j', 'DROP');
  };
  const t = Date.now();
  cut('-A');
  const moved = await waitFor('VIP off a and on b', () => !hasVip('a') && hasVip('b') && Date.now(), 15000, 50);
  report.push(`partition of a (VRRP still heard): VIP off a and on b after ${moved - t} ms (quorum check: 1 s interval, fall 2)`);
  // keepalived logs the state after it has dropped the address: the line may follow the VIP's move by a moment
  await waitFor('keepalived on a in FAULT state', () => /Entering FAULT STATE/.test(keepalived.a.output()), 5000, 50).catch(() => undefined);
  assert.match(keepalived.a.output(), /Entering FAULT STATE/);

  const h = Date.now();
  cut('-D');
  const back = await waitFor('VIP back on a', () => hasVip('a') && !hasVip('b') && Date.now(), 15000, 50);
  report.push(`partition healed: VIP back on a after ${back - h} ms`);
});
