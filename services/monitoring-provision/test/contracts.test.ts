/**
 * Contract tests for the monitoring VM: every artefact the generator commits (configs/monitoring/) is turned into the
 * request its tool would send and posted THROUGH A REAL EDGE (nginx with configs/nginx/forum.conf's /ops/ routes) to
 * the REAL ipblock (redis-server) and autoscaler (this machine's Swarm, throwaway services cprobe<pid>_nginx/_api,
 * never the `forum` stack), and a real Prometheus Alertmanager drives the autoscaler hook. Only the VM tools that
 * cannot run here (Kapacitor, Watcher, Kibana) are replaced by rendering their documented body formats
 * (docs/REQUIREMENTS.md §7) with the real Mustache engine.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Mustache from 'mustache';
import { parse } from 'yaml';
import { freePort, startProcess, tempDir, waitForWith, type Proc } from '@forum/test-support';
import { REPO, startIpblock, startRedis, type Ipblock, type RedisServer } from '../../../test/edge/lib/harness.js';
import { createTestService, docker, removeServices, startAutoscaler, tokenFile, type Proc as AsProc, type TestService } from '../../autoscaler/test/helpers.js';
import { loadRules, allRules } from '../src/rules.js';
import { autoscalerHook, subst } from '../src/edge.js';

const until = waitForWith({ timeoutMs: 30_000, intervalMs: 200 });
const rules = loadRules(join(REPO, 'configs/alerts/sla-rules.yml'));
const committed = (rel: string) => readFileSync(join(REPO, 'configs/monitoring', rel), 'utf8');
const STACK = `cprobe${process.pid}`;
const AS_TOKEN = 'contract-autoscaler-token-0123456789';
const IB_TOKEN = 'contract-ipblock-token-0123456789';

let redis: RedisServer;
let ipblock: Ipblock;
let autoscaler: AsProc;
let edge: Proc;
let EDGE: string;
const probes: Record<string, TestService> = {};
const tmp = tempDir('vm-contract-');
let asTokenFile: string;

/** A real NGINX serving only forum.conf's /ops/ locations, their upstreams pointed at the local processes. */
async function startEdge(ipblockUrl: string, autoscalerUrl: string): Promise<{ proc: Proc; url: string }> {
  const conf = readFileSync(join(REPO, 'configs/nginx/forum.conf'), 'utf8');
  const locations = [...conf.matchAll(/ {4}location \/ops\/(ipblock|autoscaler)\/v1\/ \{[^}]*\}/g)].map((m) => m[0]);
  assert.equal(locations.length, 2, 'forum.conf has the /ops/ipblock/v1/ and /ops/autoscaler/v1/ routes');
  const routed = locations.join('\n').replaceAll('http://ipblock:8080', ipblockUrl).replaceAll('http://autoscaler:8080', autoscalerUrl);
  const port = await freePort();
  const d = join(tmp.dir, 'nginx');
  mkdirSync(d, { recursive: true });
  const file = tmp.file(
    'nginx.conf',
    `daemon off;
worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log notice;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${d}/body; proxy_temp_path ${d}/proxy; fastcgi_temp_path ${d}/fcgi; uwsgi_temp_path ${d}/uwsgi; scgi_temp_path ${d}/scgi;
  server {
    listen 127.0.0.1:${port};
${routed}
  }
}
`,
    0o644,
  );
  const proc = startProcess('nginx', ['-c', file]);
  const url = `http://127.0.0.1:${port}`;
  await until('edge nginx', async () => {
    if (proc.proc.exitCode !== null) throw new Error(`nginx exited: ${proc.output()}`);
    return (await fetch(`${url}/ops/ipblock/v1/blocks`).catch(() => undefined))?.status === 401;
  });
  return { proc, url };
}

before(async () => {
  await removeServices(`${STACK}_`);
  redis = await startRedis();
  ipblock = await startIpblock({ redis, secretsDir: tmp.dir, token: IB_TOKEN });
  asTokenFile = tokenFile(AS_TOKEN);
  autoscaler = await startAutoscaler({
    AUTOSCALER_TOKEN_FILE: asTokenFile,
    STACK_NAME: STACK,
    SLA_RULES_FILE: join(REPO, 'configs/alerts/sla-rules.yml'),
    DOCKER_SOCKET: '/var/run/docker.sock',
  });
  const e = await startEdge(ipblock.url, autoscaler.url);
  edge = e.proc;
  EDGE = e.url;
  const labels = { 'autoscale.enabled': 'true', 'autoscale.min': '1', 'autoscale.max': '6', 'autoscale.cooldown': '3s' };
  for (const svc of ['nginx', 'api']) probes[svc] = await createTestService(`${STACK}_${svc}`, labels, 1);
});

after(async () => {
  await removeServices(`${STACK}_`).catch(() => undefined);
  await edge?.stop();
  await autoscaler?.kill();
  await ipblock?.stop();
  await redis?.stop();
  tmp.remove();
});

/** POSTs a body the way the VM tool would: to the artefact's URL (EDGE_URL substituted) with its headers. */
async function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; json: any }> {
  const r = await fetch(url, { method: 'POST', headers, body });
  const text = await r.text();
  let json: any = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* text */
  }
  return { status: r.status, json };
}

/** Waits until the autoscaler may change the service again (its cooldown, 3 s here). */
async function cooldownOver(svc: string): Promise<void> {
  await until(`${svc} cooldown over`, async () => {
    const r = await fetch(`${autoscaler.url}/v1/services/${svc}`, { headers: { authorization: `Bearer ${AS_TOKEN}` } });
    const v = await r.json();
    return v.cooldownLeftSeconds === 0 || v.cooldownLeftSeconds === undefined || v.cooldownLeftSeconds === null;
  });
}

/** Kapacitor's .post() body (docs/REQUIREMENTS.md §7) for the alert a generated TICKscript raises. */
function kapacitorBody(id: string, level: 'OK' | 'WARNING' | 'CRITICAL', measurement: string, value: number) {
  const time = new Date().toISOString();
  return {
    id,
    message: `${level} ${id}: value ${value}`,
    details: '',
    time,
    duration: level === 'OK' ? 60_000_000_000 : 0,
    level,
    previousLevel: level === 'OK' ? 'WARNING' : 'OK',
    recoverable: true,
    data: { series: [{ name: measurement, tags: {}, columns: ['time', 'value'], values: [[time, value]] }] },
  };
}

test('When an autoscale TICKscript fires, then the alert Kapacitor posts (through the edge, every evaluation while firing) scales its service one step per cooldown', async () => {
  const kapacitorUrl = autoscalerHook('kapacitor', EDGE); // what provisioning sets as the httppost endpoint's URL
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${AS_TOKEN}` }; // the endpoint's configured header
  const scale = allRules(rules).filter((r) => r.kind === 'autoscale');
  assert.deepEqual(scale.map((r) => r.id).sort(), ['api_scale_up', 'nginx_scale_down', 'nginx_scale_up']);
  for (const r of scale.sort((a, b) => (a.scale!.direction === 'up' ? -1 : 1) - (b.scale!.direction === 'up' ? -1 : 1))) {
    const tick = committed(`kapacitor/sla_${r.id}.tick`);
    const id = /var name = '([a-z0-9_]+)'/.exec(tick)![1];
    assert.ok(tick.includes(".endpoint('autoscaler')") && tick.includes('.id(idVar)'), `${r.id} posts its id to the autoscaler`);
    const svc = probes[r.scale!.service];
    await cooldownOver(svc.name);
    const before = await svc.replicas();
    const firing = kapacitorBody(id, 'WARNING', r.measurement, r.warn * (r.op === '>' ? 2 : 0.5));
    const first = await post(kapacitorUrl, headers, JSON.stringify(firing));
    assert.equal(first.status, 200, JSON.stringify(first.json));
    const want = before + (r.scale!.direction === 'up' ? 1 : -1);
    assert.equal(first.json.decisions[0].outcome, 'scaled', JSON.stringify(first.json));
    assert.equal(await svc.replicas(), want, `${r.id}: ${before} -> ${want}`);
    // Kapacitor repeats the firing alert at the next evaluation: inside the cooldown it changes nothing
    const repeat = await post(kapacitorUrl, headers, JSON.stringify(firing));
    assert.equal(repeat.status, 200);
    assert.deepEqual([repeat.json.decisions[0].outcome, repeat.json.decisions[0].code], ['refused', 'cooldown']);
    assert.equal(await svc.replicas(), want);
    if (r.scale!.direction === 'up') {
      // ... and once the cooldown is over the still-firing alert takes the next step, as the in-stack alerter does
      await cooldownOver(svc.name);
      const again = await post(kapacitorUrl, headers, JSON.stringify(firing));
      assert.equal(again.json.decisions[0].outcome, 'scaled', JSON.stringify(again.json));
      assert.equal(await svc.replicas(), want + 1);
    }
    // the recovery is posted too and changes nothing
    const ok = await post(kapacitorUrl, headers, JSON.stringify(kapacitorBody(id, 'OK', r.measurement, 1)));
    assert.equal(ok.json.decisions[0].outcome, 'ignored');
  }
  // a wrong token through the edge: 401, nothing happens
  const v = await probes.api.version();
  const bad = await post(
    kapacitorUrl,
    { 'content-type': 'application/json', authorization: 'Bearer wrong-token-wrong-token' },
    JSON.stringify(kapacitorBody('api_scale_up', 'WARNING', 'x', 99)),
  );
  assert.equal(bad.status, 401);
  assert.equal(await probes.api.version(), v);
});

test('When each generated action body of the Kibana autoscaler connector is posted to the connector URL with its headers, then the service scales', async () => {
  const c = JSON.parse(subst(committed('kibana/connector-autoscaler.json'), { EDGE_URL: EDGE, AUTOSCALER_TOKEN: AS_TOKEN }));
  assert.equal(c.connector.config.url, `${EDGE}/ops/autoscaler/v1/hooks/kibana`);
  for (const r of rules.autoscale.rules) {
    const svc = probes[r.service];
    await cooldownOver(svc.name);
    const before = await svc.replicas();
    // Kibana renders webhook bodies with JSON-escaped Mustache variables
    const body = Mustache.render(
      c.actions[r.id].params.body,
      {
        context: { message: `rule ${r.id} "fired"` },
        alert: { actionGroup: 'threshold met', id: 'a1' },
        rule: { id: 'k1', name: r.id },
      },
      {},
      { escape: (s: string) => JSON.stringify(String(s)).slice(1, -1) },
    );
    const res = await post(c.connector.config.url, c.connector.config.headers, body);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.decisions[0].outcome, 'scaled', `${r.id}: ${JSON.stringify(res.json)}`);
    assert.equal(await svc.replicas(), before + (r.direction === 'up' ? 1 : -1));
  }
});

/** Renders a Watcher webhook body: plain {{ctx.x}} plus the {{#toJson}}path{{/toJson}} lambda, unescaped. */
function renderWatcher(template: string, ctx: unknown): string {
  const lookup = (obj: unknown, path: string) => path.split('.').reduce<any>((o, k) => (o == null ? undefined : o[k]), obj);
  const view = { ctx, toJson: () => (text: string) => JSON.stringify(lookup({ ctx }, text.trim())) };
  return Mustache.render(template, view, {}, { escape: (s: string) => s });
}

const blocks = async () => (await ipblock.api('GET', '/v1/blocks')).json.blocks as Array<{ ip: string; expiresAt: string; reason: string }>;

test('When the Watcher webhook is sent (URL, headers, body as Elasticsearch renders it), then ipblock blocks the offenders for bruteforce.blockSeconds', async () => {
  const w = JSON.parse(
    subst(committed('elasticsearch/watcher-login-bruteforce.json'), {
      EDGE_URL: EDGE,
      IPBLOCK_TOKEN: IB_TOKEN,
      SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/unused',
    }),
  );
  const hook = w.actions.block_ips.webhook;
  assert.equal(hook.url, `${EDGE}/ops/ipblock/v1/hooks/watcher`);
  const b = rules.bruteforce;
  const body = renderWatcher(hook.body, {
    watch_id: 'login-bruteforce',
    execution_time: new Date().toISOString(),
    payload: {
      aggregations: {
        by_ip: {
          buckets: [
            { key: '203.0.113.71', doc_count: b.failures + 3 },
            { key: '203.0.113.72', doc_count: b.failures - 1 },
          ],
        },
      },
    },
  });
  const t0 = Date.now();
  const r = await post(hook.url, hook.headers, body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(
    r.json.blocked.map((x: { ip: string }) => x.ip),
    ['203.0.113.71'],
  );
  const got = (await blocks()).find((x) => x.ip === '203.0.113.71')!;
  const ttl = (Date.parse(got.expiresAt) - t0) / 1000;
  assert.ok(Math.abs(ttl - b.blockSeconds) < 10, `TTL ${ttl} s = bruteforce.blockSeconds ${b.blockSeconds}`);
  assert.ok(!(await blocks()).some((x) => x.ip === '203.0.113.72'), 'below the threshold: not blocked');
});

test('When the action body of the Kibana rule is posted to the ipblock connector URL with its headers, then the IP is blocked', async () => {
  const vars = { EDGE_URL: EDGE, IPBLOCK_TOKEN: IB_TOKEN, KIBANA_IPBLOCK_CONNECTOR_ID: 'c1' };
  const connector = JSON.parse(subst(committed('kibana/connector-ipblock.json'), vars));
  const rule = JSON.parse(subst(committed('kibana/rule-login-bruteforce.json'), vars));
  assert.equal(rule.actions[0].id, 'c1');
  const body = Mustache.render(
    rule.actions[0].params.body,
    {
      rule: { id: 'r1', name: rule.name },
      alert: { id: '203.0.113.73' },
      context: { group: '203.0.113.73', value: rule.params.threshold[0], date: new Date().toISOString() },
    },
    {},
    { escape: (s: string) => JSON.stringify(String(s)).slice(1, -1) },
  );
  const t0 = Date.now();
  const r = await post(connector.config.url, connector.config.headers, body);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const got = (await blocks()).find((x) => x.ip === '203.0.113.73');
  assert.ok(got, 'blocked');
  assert.ok(Math.abs((Date.parse(got.expiresAt) - t0) / 1000 - rules.bruteforce.blockSeconds) < 10);
});

test('When Alertmanager (Debian prometheus-alertmanager) runs the generated config, then it scales the service through the edge', async () => {
  const bin = ['/usr/bin/prometheus-alertmanager', '/usr/bin/alertmanager'].find((p) => existsSync(p));
  assert.ok(bin, 'prometheus-alertmanager is installed (scripts/lib/ensure-test-deps.sh)');
  const cfgText = subst(committed('alertmanager/alertmanager.yml'), { EDGE_URL: EDGE, AUTOSCALER_TOKEN_FILE: asTokenFile });
  const cfg = parse(cfgText);
  assert.equal(cfg.receivers[0].webhook_configs[0].http_config.authorization.credentials_file, asTokenFile);
  const file = tmp.file('alertmanager.yml', cfgText, 0o644);
  const check = execFileSync('amtool', ['check-config', file], { encoding: 'utf8' });
  assert.match(check, /SUCCESS/);
  const port = await freePort();
  const am = startProcess(bin, [
    `--config.file=${file}`,
    `--storage.path=${join(tmp.dir, 'am-data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
  ]);
  try {
    const amUrl = `http://127.0.0.1:${port}`;
    await until('alertmanager ready', async () => {
      if (am.proc.exitCode !== null) throw new Error(`alertmanager exited: ${am.output()}`);
      return (await fetch(`${amUrl}/-/ready`).catch(() => undefined))?.ok;
    });
    const svc = probes.api;
    await cooldownOver(svc.name);
    const before = await svc.replicas();
    const r = await fetch(`${amUrl}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([
        {
          labels: { alertname: 'api_scale_up', severity: 'warning' },
          annotations: { summary: 'API mean response time over 3 minutes' },
          startsAt: new Date().toISOString(),
        },
      ]),
    });
    assert.equal(r.status, 200, await r.text());
    // group_wait (10 s in the generated route) then the webhook
    await until('api +1 from Alertmanager', async () => (await svc.replicas()) === before + 1, 40_000);
    const logs = autoscaler.logs().filter((l) => l.event === 'autoscale_decision' && l.source === 'alertmanager');
    assert.ok(
      logs.some((l) => l.outcome === 'scaled' && l.target === svc.name),
      JSON.stringify(logs),
    );
  } finally {
    await am.stop();
  }
});

test('When the probe services are created, then none of them is part of the forum stack', async () => {
  const ns = await docker('service', 'inspect', probes.api.name, '--format', '{{ index .Spec.Labels "com.docker.stack.namespace" }}');
  assert.notEqual(ns, 'forum');
});
