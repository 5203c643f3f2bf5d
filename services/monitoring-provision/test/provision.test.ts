import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadRules, allRules } from '../src/rules.js';
import { build, files } from '../src/generate.js';
import { startInfluxd, rows, type Influxd } from '@forum/test-support';
import { startVmStub, type VmStub } from './stubs.js';

const exec = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const RULES = join(root, 'configs/alerts/sla-rules.yml');
const SNAP = join(root, 'configs/monitoring');
const CLI = join(root, 'services/monitoring-provision/src/cli.ts');
const rules = loadRules(RULES);
const generated = files(build(rules));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

test('When TICKscripts, watcher and dashboards are generated, then they equal the committed configs/monitoring files', () => {
  const committed = walk(SNAP)
    .map((p) => relative(SNAP, p))
    .filter((p) => !p.startsWith('logstash/'))
    .sort();
  assert.deepEqual(committed, Object.keys(generated).sort(), 'file set (regenerate with: npm run monitoring:provision -- --generate configs/monitoring)');
  for (const [rel, text] of Object.entries(generated)) assert.equal(readFileSync(join(SNAP, rel), 'utf8'), text, `${rel} is stale`);
});

test('When the TICKscripts are generated, then every SLA alert of Table 2 and every autoscale rule has one with its thresholds from the rules file', () => {
  const all = allRules(rules);
  assert.equal(all.length, rules.alerts.length + rules.autoscale.rules.length);
  const want: Record<string, [string, number]> = {
    nginx_clients: ['>', 750],
    nginx_requests: ['>', 50],
    nginx_errors: ['>', 2.5],
    redis_errors: ['>', 2.5],
    redis_response_time: ['>', 5000],
    pg_rows_inserted: ['>', 1500],
    pg_rows_fetched: ['>', 1500],
    api_write_response_time: ['>', 30],
    api_read_response_time: ['>', 10],
    api_clients: ['>', 1000],
    api_errors: ['>', 4],
    node_cpu: ['>', 50],
    node_ram: ['>', 55],
    node_disk: ['>', 70],
    backup_age: ['>', 26],
    nginx_scale_up: ['>', 350],
    nginx_scale_down: ['<', 20],
    api_scale_up: ['>', 10],
  };
  assert.deepEqual(all.map((r) => r.id).sort(), Object.keys(want).sort());
  for (const r of all) {
    const tick = generated[`kapacitor/sla_${r.id}.tick`];
    assert.ok(tick, r.id);
    const [op, warn] = want[r.id];
    assert.match(tick, new RegExp(`var warn = ${warn}(\\.0)?\\n`), `${r.id} warn`);
    assert.ok(tick.includes(`.warn(lambda: "value" ${op} warn)`), `${r.id} op`);
    assert.ok(tick.includes(".channel('#alerts')"), `${r.id} posts to Slack #alerts`);
    assert.equal(tick.includes(".endpoint('autoscaler')"), r.kind === 'autoscale', `${r.id}: only autoscale rules post to the autoscaler`);
    assert.ok(tick.includes('.measurement(outputMeasurement)') && tick.includes("var outputMeasurement = 'alerts'"), 'Chronograf alert history');
    assert.ok(!/Bearer|hooks\.slack\.com/.test(tick), 'no secret in a script');
  }
  assert.ok(generated['kapacitor/sla_nginx_scale_down.tick'].includes('.warnReset(lambda: "value" >= warn * (1.0 + hyst))'));
});

test('When the watcher JSON is generated, then 8 failed POST /api/auth/ per source.ip in 30 s call the ipblock webhook and Slack, secrets as placeholders', () => {
  const w = JSON.parse(generated['elasticsearch/watcher-login-bruteforce.json']);
  const body = w.input.search.request.body;
  assert.deepEqual(w.input.search.request.indices, ['filebeat-*']);
  assert.equal(body.aggs.by_ip.terms.field, 'source.ip');
  assert.equal(body.aggs.by_ip.terms.min_doc_count, 8);
  const f = body.query.bool.filter;
  assert.deepEqual(f[0], { range: { '@timestamp': { gte: 'now-30s' } } });
  assert.ok(f.some((x: any) => x.term?.['http.request.method'] === 'POST'));
  assert.ok(f.some((x: any) => x.term?.['url.path'] === '/api/auth/'));
  assert.deepEqual(f.find((x: any) => x.terms)?.terms['http.response.status_code'], [400, 429]);
  assert.equal(w.actions.block_ips.webhook.url, '${EDGE_URL}/ops/ipblock/v1/hooks/watcher');
  assert.equal(w.actions.block_ips.webhook.headers.Authorization, 'Bearer ${IPBLOCK_TOKEN}');
  assert.equal(w.actions.notify_slack.webhook.url, '${SLACK_WEBHOOK_URL}');
  assert.match(w.actions.block_ips.webhook.body, /\{\{#toJson\}\}ctx\.payload\.aggregations\.by_ip\.buckets\{\{\/toJson\}\}/);
  const tpl = JSON.parse(generated['elasticsearch/index-template-filebeat-forum.json']);
  assert.equal(tpl.template.mappings.properties.source.properties.geo.properties.location.type, 'geo_point');
  assert.equal(tpl.template.mappings.properties.http.properties.response.properties.status_code.type, 'long');
  assert.equal(tpl.template.settings['index.lifecycle.name'], 'filebeat-forum');
});

test('When the brute-force rule is set, then the Watcher, the Kibana rule, the Kibana search and ipblock all take sla-rules.yml bruteforce', () => {
  const b = rules.bruteforce;
  const w = JSON.parse(generated['elasticsearch/watcher-login-bruteforce.json']);
  const k = JSON.parse(generated['kibana/rule-login-bruteforce.json']);
  assert.equal(w.input.search.request.body.aggs.by_ip.terms.min_doc_count, b.failures);
  assert.equal(w.input.search.request.body.query.bool.filter[0].range['@timestamp'].gte, `now-${b.windowSeconds}s`);
  assert.match(w.actions.block_ips.webhook.body, new RegExp(`"windowSeconds":${b.windowSeconds},"ttlSeconds":${b.blockSeconds},`));
  assert.deepEqual(
    [k.params.threshold[0], k.params.timeWindowSize, k.params.timeWindowUnit, k.params.termField],
    [b.failures, b.windowSeconds, 's', 'source.ip'],
  );
  const kuery = `event.dataset : "nginx.access" and http.request.method : "${b.method}" and url.path : "${b.path}" and http.response.status_code : (${b.statuses.join(' or ')})`;
  assert.equal(k.params.filterKuery, kuery);
  assert.match(k.actions[0].params.body, new RegExp(`"ttlSeconds":${b.blockSeconds}`));
  const search = generated['kibana/saved-objects.ndjson']
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .find((o) => o.id === 'forum-failed-logins');
  assert.equal(JSON.parse(search.attributes.kibanaSavedObjectMeta.searchSourceJSON).query.query, kuery);
  // the API's own detection (services/forum-api RULES) must use the same numbers: read as text, services never import each other
  const domain = readFileSync(join(root, 'services/forum-api/src/forum-rules.ts'), 'utf8');
  assert.match(domain, new RegExp(`bruteforceFailures: ${b.failures},`), 'forum-api bruteforceFailures = sla-rules.yml bruteforce.failures');
  assert.match(
    domain,
    new RegExp(`bruteforceWindowSeconds: ${b.windowSeconds},`),
    'forum-api bruteforceWindowSeconds = sla-rules.yml bruteforce.windowSeconds',
  );
});

test('When a VM webhook is generated, then it goes through the edge: ${EDGE_URL} + a route configs/nginx/forum.conf has', () => {
  const conf = readFileSync(join(root, 'configs/nginx/forum.conf'), 'utf8');
  const urls = [
    JSON.parse(generated['elasticsearch/watcher-login-bruteforce.json']).actions.block_ips.webhook.url,
    JSON.parse(generated['kibana/connector-ipblock.json']).config.url,
    JSON.parse(generated['kibana/connector-autoscaler.json']).connector.config.url,
    /url: (\S+)/.exec(generated['alertmanager/alertmanager.yml'])![1],
  ];
  for (const u of urls) {
    const m = /^\$\{EDGE_URL\}(\/ops\/(ipblock|autoscaler)\/v1\/)hooks\/\w+$/.exec(u);
    assert.ok(m, `${u} goes through the edge`);
    assert.ok(conf.includes(`location ${m[1]} {`), `forum.conf routes ${m[1]}`);
  }
  assert.ok(!Object.values(generated).some((t) => /http:\/\/(ipblock|autoscaler):8080/.test(t)), 'no in-stack name in a VM artefact');
});

test('When alerts fire, then scale alerts repeat while they fire and SLA alerts notify on state changes only', () => {
  for (const r of allRules(rules)) {
    const tick = generated[`kapacitor/sla_${r.id}.tick`];
    const nodes = tick.split('|alert()').slice(1);
    if (r.kind === 'autoscale') {
      assert.equal(nodes.length, 2, r.id);
      assert.ok(nodes[0].includes('.stateChangesOnly()') && nodes[0].includes('.slack()') && !nodes[0].includes('.post()'), `${r.id}: Slack on state changes`);
      assert.ok(!nodes[1].includes('stateChangesOnly') && nodes[1].includes(".endpoint('autoscaler')"), `${r.id}: posts every evaluation while firing`);
      assert.ok(nodes[1].includes(`.id(idVar)`) && tick.includes(`var name = '${r.id}'`));
    } else {
      assert.equal(nodes.length, 1, r.id);
      assert.ok(nodes[0].includes('.stateChangesOnly()'));
    }
  }
  const am = parse(generated['alertmanager/alertmanager.yml']);
  assert.equal(am.route.repeat_interval, `${rules.autoscale.cooldownSeconds}s`, 'Alertmanager re-sends a firing alert once per cooldown');
});

test('When Chronograf dashboards are generated, then they are in its export format {meta, dashboard}', () => {
  const dash = Object.keys(generated).filter((k) => k.startsWith('chronograf/'));
  assert.equal(dash.length, 3);
  for (const k of dash) {
    const f = JSON.parse(generated[k]);
    assert.deepEqual(Object.keys(f).sort(), ['dashboard', 'meta']);
    assert.match(f.meta.chronografVersion, /^1\.\d+/);
    assert.equal(typeof f.dashboard.name, 'string');
    assert.ok(Array.isArray(f.dashboard.templates));
    for (const c of f.dashboard.cells) {
      for (const key of ['x', 'y', 'w', 'h']) assert.equal(typeof c[key], 'number', `${k} ${c.name} ${key}`);
      assert.ok(c.queries.length > 0 && c.queries.every((q: any) => q.type === 'influxql' && typeof q.query === 'string'), `${k} ${c.name}`);
    }
  }
});

test('When retention.days is set, then retention and lifecycle both come from it', () => {
  const d = rules.retention.days;
  const ilm = JSON.parse(generated['elasticsearch/ilm-policy-filebeat-forum.json']);
  assert.equal(ilm.policy.phases.delete.min_age, `${d}d`);
  assert.deepEqual(ilm.policy.phases.delete.actions, { delete: {} });
  assert.match(generated['influxdb/retention.influxql'], new RegExp(`ALTER RETENTION POLICY "autogen" ON "telegraf" DURATION ${d}d `));
  assert.match(generated['influxdb/retention.influxql'], new RegExp(`ALTER RETENTION POLICY "autogen" ON "chronograf" DURATION ${d}d `));
});

let influx: Influxd;
before(async () => {
  influx = await startInfluxd();
});
after(async () => {
  await influx?.stop();
});

test('When the generated retention statements run on real InfluxDB 1.6 (twice: idempotent), then both databases are bounded', async () => {
  const statements = build(rules).influxRetention;
  for (let round = 0; round < 2; round++) {
    for (const q of statements) {
      const r = await fetch(`${influx.url}/query?q=${encodeURIComponent(q)}`, { method: 'POST' });
      const body = await r.json();
      assert.equal(r.status, 200, JSON.stringify(body));
      assert.ok(!body.results?.[0]?.error, `${q}: ${JSON.stringify(body)}`);
    }
  }
  for (const db of ['telegraf', 'chronograf']) {
    const rps = rows(await influx.query(`SHOW RETENTION POLICIES ON "${db}"`));
    const autogen = rps.find((x) => x.name === 'autogen');
    assert.equal(autogen?.duration, `${rules.retention.days * 24}h0m0s`, `${db}: ${JSON.stringify(rps)}`);
    assert.equal(autogen?.default, true);
  }
});

test('When every rule query runs on real InfluxDB 1.6, then it is valid InfluxQL and yields the expected value from Telegraf-schema data', async () => {
  await influx.query('CREATE DATABASE telegraf');
  const now = Date.now();
  const lines: string[] = [];
  for (let i = 12; i >= 0; i--) {
    const t = (now - i * 10_000) * 1e6;
    const k = 12 - i;
    lines.push(
      `nginx,host=n1,instance=nginx@10.0.0.5:8081,server=10.0.0.5,port=8081 active=800i,requests=${k * 600}i,reading=1i,writing=2i,waiting=3i,accepts=1i,handled=1i ${t}`,
      `nginx_responses,host=n1,instance=nginx@c1 total=${k * 100}i,status_5xx=${k * 30}i ${t}`,
      `haproxy,host=n1,instance=redis-proxy@10.0.1.2:8404,type=backend,proxy=redis,sv=BACKEND econ=${k * 20}i,eresp=${k * 20}i,ctime=6000i ${t}`,
      `postgresql,host=n1,instance=postgres@10.0.2.2:5432,db=forum,server=x tup_inserted=${k * 20000}i,tup_fetched=${k * 10000}i ${t}`,
      `http_request_duration_seconds,host=n1,instance=api@10.0.3.2:9464,swarm_service=api,method=GET,status=200,route=/api/ sum=${k * 150},count=${k * 10} ${t}`,
      `http_request_duration_seconds,host=n1,instance=api@10.0.3.2:9464,swarm_service=api,method=POST,status=500,route=/api/ sum=${k * 400},count=${k * 10} ${t}`,
      `http_requests_in_flight,host=n1,instance=api@10.0.3.2:9464,swarm_service=api gauge=1200 ${t}`,
      `snmp,agent_host=10.0.0.1,hostname=node1 cpu_used_percent=60,mem_used_percent=60,dskPercent=75i ${t}`,
      `backup_last_success_age_seconds,host=n1,instance=backup@10.0.4.2:8080,swarm_service=backup gauge=108000 ${t}`,
    );
  }
  const w = await fetch(`${influx.url}/write?db=telegraf`, { method: 'POST', body: lines.join('\n') });
  assert.equal(w.status, 204, await w.text());
  // the alerter's rendering recipe (documented at the top of sla-rules.yml)
  const evalPart = async (r: ReturnType<typeof allRules>[number], p: { select: string; where?: string }) => {
    const gb = [`time(${r.bucket})`, ...r.groupBy.map((t) => `"${t}"`)].join(', ');
    const q = `SELECT ${p.select} AS "value" FROM "telegraf"."autogen"."${r.measurement}" WHERE time > now() - ${r.period}${p.where ? ` AND (${p.where})` : ''} GROUP BY ${gb}`;
    const vals = rows(await influx.query(q))
      .map((x) => x.value)
      .filter((v) => v !== null);
    assert.ok(vals.length > 0, `${r.id}: no value from ${q}`);
    return vals.reduce((a, b) => a + b, 0) / vals.length;
  };
  const expected: Record<string, number> = {
    nginx_clients: 800,
    nginx_requests: 60,
    nginx_errors: 3,
    redis_errors: 4,
    redis_response_time: 6000,
    pg_rows_inserted: 2000,
    pg_rows_fetched: 1000,
    api_write_response_time: 40,
    api_read_response_time: 15,
    api_clients: 1200,
    api_errors: 50,
    node_cpu: 60,
    node_ram: 60,
    node_disk: 75,
    backup_age: 30,
    nginx_scale_up: 800,
    nginx_scale_down: 800,
    api_scale_up: 27.5,
  };
  for (const r of allRules(rules)) {
    let v: number;
    if ('ratio' in r.value) v = ((r.value.scale ?? 1) * (await evalPart(r, r.value.ratio.numerator))) / (await evalPart(r, r.value.ratio.denominator));
    else v = await evalPart(r, r.value);
    assert.ok(Math.abs(v - expected[r.id]) < 0.01 * expected[r.id], `${r.id}: got ${v}, want ${expected[r.id]}`);
  }
});

let vm: VmStub;
test('When the CLI runs, then it installs everything on the VM APIs, idempotently, with secrets only from files', async (t) => {
  vm = await startVmStub();
  t.after(() => vm.close());
  const dir = mkdtempSync(join(tmpdir(), 'obs-prov-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'slack'), 'https://hooks.slack.example/services/T/B/X\n');
  writeFileSync(join(dir, 'ipblock'), 'ipblock-secret-token\n');
  writeFileSync(join(dir, 'autoscaler'), 'autoscaler-secret-token\n');
  const args = [
    '--import',
    'tsx',
    CLI,
    '--edge-url',
    'https://edge.example',
    '--influx',
    vm.url,
    '--kapacitor',
    vm.url,
    '--es',
    vm.url,
    '--kibana',
    vm.url,
    '--chronograf',
    vm.url,
    '--slack-webhook-file',
    join(dir, 'slack'),
    '--ipblock-token-file',
    join(dir, 'ipblock'),
    '--autoscaler-token-file',
    join(dir, 'autoscaler'),
  ];
  const first = await exec('node', args, { cwd: root });
  assert.match(first.stdout, /"ok":true/);
  assert.ok(!first.stdout.includes('secret-token') && !first.stdout.includes('hooks.slack.example'), 'no secret printed');
  assert.equal(vm.tasks.size, 18);
  assert.equal(vm.tasks.get('sla_nginx_clients').status, 'enabled');
  assert.deepEqual(vm.tasks.get('sla_nginx_clients').dbrps, [{ db: 'telegraf', rp: 'autogen' }]);
  assert.equal(vm.kapacitorConfig['httppost/autoscaler'].headers.Authorization, 'Bearer autoscaler-secret-token');
  assert.equal(vm.kapacitorConfig['httppost/autoscaler'].url, 'https://edge.example/ops/autoscaler/v1/hooks/kapacitor');
  const influxQs = vm.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/query?')).map((r) => new URL(r.path, 'http://x').searchParams.get('q'));
  assert.deepEqual(influxQs, build(rules).influxRetention, 'databases + retention statements, in order');
  assert.equal(vm.esDocs.get('/_ilm/policy/filebeat-forum').policy.phases.delete.min_age, `${rules.retention.days}d`);
  assert.equal(vm.kapacitorConfig.slack.channel, '#alerts');
  const watch = vm.esDocs.get('/_watcher/watch/login-bruteforce');
  assert.equal(watch.actions.block_ips.webhook.headers.Authorization, 'Bearer ipblock-secret-token');
  assert.equal(watch.actions.block_ips.webhook.url, 'https://edge.example/ops/ipblock/v1/hooks/watcher');
  assert.equal(watch.actions.notify_slack.webhook.url, 'https://hooks.slack.example/services/T/B/X');
  assert.ok(vm.esDocs.has('/_index_template/filebeat-forum') && vm.esDocs.has('/_ingest/pipeline/forum-logs'));
  assert.equal(vm.kibanaImports.length, 1);
  assert.match(vm.kibanaImports[0], /"title":"filebeat-\*"/);
  assert.deepEqual([...vm.dashboards.values()].map((d) => d.name).sort(), ['Forum SLA (sla-rules.yml)', 'Forum instances', 'Nodes (SNMP)']);
  assert.equal(vm.sources.length, 1);
  assert.equal(vm.sources[0].kapacitors.length, 1);

  // a stale task from an older rules file is removed; a second run updates in place (no duplicates)
  vm.tasks.set('sla_old_rule', { id: 'sla_old_rule', type: 'batch', dbrps: [], script: 'x' });
  const second = await exec('node', args, { cwd: root });
  assert.match(second.stdout, /"ok":true/);
  assert.equal(vm.tasks.size, 18);
  assert.ok(!vm.tasks.has('sla_old_rule'));
  assert.equal(vm.dashboards.size, 3);
  assert.equal(vm.sources.length, 1);
  assert.ok(vm.requests.some((r) => r.method === 'PATCH' && r.path === '/kapacitor/v1/tasks/sla_nginx_clients'));
  assert.ok(vm.requests.some((r) => r.method === 'PUT' && r.path.startsWith('/chronograf/v1/dashboards/')));
});

test('When the input is bad, then a clear error, exit 2 and nothing installed', async () => {
  const stub = await startVmStub();
  try {
    const bad = await exec('node', ['--import', 'tsx', CLI, '--kapacitor', 'not-a-url'], { cwd: root }).catch((e) => e);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--kapacitor must be an http\(s\) URL/);
    const dir = mkdtempSync(join(tmpdir(), 'obs-prov-bad-'));
    const y = parse(readFileSync(RULES, 'utf8'));
    y.alerts[0].crit = 1; // below warn
    writeFileSync(join(dir, 'rules.yml'), stringify(y));
    const r = await exec('node', ['--import', 'tsx', CLI, '--rules', join(dir, 'rules.yml'), '--kapacitor', stub.url], { cwd: root }).catch((e) => e);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /rule nginx_clients: crit must be beyond warn/);
    rmSync(dir, { recursive: true, force: true });
    assert.equal(stub.requests.length, 0);
  } finally {
    await stub.close();
  }
});

test('When the edge URL is plain http://, then provisioning refuses every webhook that would send a bearer token, and says why', async (t) => {
  const vm = await startVmStub();
  t.after(() => vm.close());
  const dir = mkdtempSync(join(tmpdir(), 'obs-prov-http-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'autoscaler'), 'autoscaler-secret-token\n');
  const args = ['--import', 'tsx', CLI, '--edge-url', 'http://edge.example', '--kapacitor', vm.url, '--autoscaler-token-file', join(dir, 'autoscaler')];
  const r = await exec('node', args, { cwd: root }).then(
    () => assert.fail('the CLI succeeded with a plain-http edge'),
    (err: { code: number; stdout: string }) => err,
  );
  assert.equal(r.code, 1);
  assert.match(r.stdout, /must be the edge's https:\/\/ URL, not http:\/\/edge\.example/);
  assert.equal(vm.kapacitorConfig['httppost/autoscaler'], undefined, 'no webhook with a token was configured');
});
