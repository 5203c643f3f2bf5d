import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Mustache from 'mustache';
import { REPO } from '../../../test/edge/lib/harness.js';
import { ipblockSuite } from './suite.js';

/**
 * The bodies posted here are rendered from the GENERATED templates (configs/monitoring/, from sla-rules.yml
 * `bruteforce`; services/monitoring-provision checks they are current) with a Mustache engine,
 * giving it the context Elasticsearch Watcher / Kibana would: Watcher's `toJson` lambda serializes a context path.
 */
const w = ipblockSuite();
const elk = (name: string) => JSON.parse(readFileSync(join(REPO, 'configs/monitoring', name), 'utf8'));

function lookup(obj: unknown, path: string): unknown {
  return path.split('.').reduce<any>((o, k) => (o == null ? undefined : o[k]), obj);
}

/** Renders a Watcher webhook body: plain {{ctx.x}} plus the {{#toJson}}path{{/toJson}} lambda. */
function renderWatcher(template: string, ctx: unknown): string {
  const view = { ctx, toJson: () => (text: string) => JSON.stringify(lookup({ ctx }, text.trim())) };
  return Mustache.render(template, view, {}, { escape: (s: string) => s });
}

/** Renders a Kibana action param the way Kibana does for webhook bodies (values JSON-escaped). */
function renderKibana(template: string, vars: unknown): string {
  return Mustache.render(template, vars, {}, { escape: (s: string) => JSON.stringify(String(s)).slice(1, -1) });
}

const ips = async () => (await w.svc.api('GET', '/v1/blocks')).json.blocks.map((b: { ip: string }) => b.ip) as string[];

test('When the Watcher is built, then it searches failed logins per source.ip, 8 in 30 s, and posts to /v1/hooks/watcher with the bearer token', () => {
  const w = elk('elasticsearch/watcher-login-bruteforce.json');
  const body = w.input.search.request.body;
  assert.equal(body.query.bool.filter[0].range['@timestamp'].gte, 'now-30s');
  assert.equal(body.aggs.by_ip.terms.field, 'source.ip');
  assert.equal(body.aggs.by_ip.terms.min_doc_count, 8);
  assert.equal(w.actions.block_ips.webhook.url, '${EDGE_URL}/ops/ipblock/v1/hooks/watcher');
  assert.equal(w.actions.block_ips.webhook.headers.Authorization, 'Bearer ${IPBLOCK_TOKEN}');
  const r = elk('kibana/rule-login-bruteforce.json');
  assert.deepEqual([r.params.termField, r.params.threshold[0], r.params.timeWindowSize, r.params.timeWindowUnit], ['source.ip', 8, 30, 's']);
  assert.equal(elk('kibana/connector-ipblock.json').config.url, '${EDGE_URL}/ops/ipblock/v1/hooks/kibana');
});

test('When the watcher fires, then the body its template produces blocks every IP at or above 8 failures', async () => {
  const template = elk('elasticsearch/watcher-login-bruteforce.json').actions.block_ips.webhook.body as string;
  const ctx = {
    watch_id: 'login-bruteforce',
    execution_time: '2026-11-22T05:00:00.000Z',
    payload: {
      hits: { total: { value: 21 } },
      aggregations: {
        by_ip: {
          doc_count_error_upper_bound: 0,
          sum_other_doc_count: 0,
          buckets: [
            { key: '203.0.113.41', doc_count: 12 },
            { key: '2001:db8::41', doc_count: 8 },
            { key: '203.0.113.42', doc_count: 3 },
          ],
        },
      },
    },
  };
  const rendered = renderWatcher(template, ctx);
  const r = await w.svc.api('POST', '/v1/hooks/watcher', rendered);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.deepEqual(
    r.json.blocked.map((b: { ip: string }) => b.ip),
    ['203.0.113.41', '2001:db8::41'],
  );
  const now = await ips();
  assert.ok(now.includes('203.0.113.41') && now.includes('2001:db8::41') && !now.includes('203.0.113.42'));
  const block = (await w.svc.api('GET', '/v1/blocks')).json.blocks.find((b: { ip: string }) => b.ip === '203.0.113.41');
  assert.match(block.reason, /12 failed logins in 30 s \(watcher login-bruteforce\)/);
});

test('When the Kibana rule fires for an IP, then the connector body its template produces blocks it', async () => {
  const template = elk('kibana/rule-login-bruteforce.json').actions[0].params.body as string;
  const rendered = renderKibana(template, {
    rule: { id: 'c0ffee', name: 'login-bruteforce' },
    alert: { id: '203.0.113.51' },
    context: { group: '203.0.113.51', value: 9, date: '2026-11-22T05:00:00.000Z' },
  });
  const r = await w.svc.api('POST', '/v1/hooks/kibana', rendered);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.ok((await ips()).includes('203.0.113.51'));
});

test('When a hook body is malformed, below threshold or names only protected IPs, then a clear 4xx and nothing changes', async () => {
  const v0 = (await w.svc.api('GET', '/v1/blocks')).json.version;
  const cases: Array<[string, unknown, number, string]> = [
    ['/v1/hooks/watcher', { buckets: 'x' }, 400, 'invalid_body'],
    ['/v1/hooks/watcher', { buckets: [{ key: 'bogus', doc_count: 9 }] }, 400, 'invalid_ip'],
    [
      '/v1/hooks/watcher',
      {
        buckets: [
          { key: '203.0.113.60', doc_count: 9 },
          { key: '1.2.3', doc_count: 9 },
        ],
      },
      400,
      'invalid_ip',
    ],
    ['/v1/hooks/watcher', { buckets: [{ key: '10.0.0.3', doc_count: 30 }] }, 422, 'protected_range'],
    ['/v1/hooks/watcher', '{"buckets": [', 400, 'parse_error'],
    ['/v1/hooks/kibana', { ip: '203.0.113.61', count: 3 }, 422, 'below_threshold'],
    ['/v1/hooks/kibana', { count: 9 }, 400, 'invalid_body'],
    ['/v1/hooks/kibana', { ip: '127.0.0.1', count: 9 }, 422, 'protected_range'],
    ['/v1/hooks/watcher', { ttlSeconds: 0, buckets: [{ key: '203.0.113.62', doc_count: 9 }] }, 400, 'invalid_ttl'],
    ['/v1/hooks/kibana', { ip: '203.0.113.63', count: 9, ttlSeconds: 'long' }, 400, 'invalid_body'],
  ];
  for (const [path, body, status, code] of cases) {
    const r = await w.svc.api('POST', path, body);
    assert.equal(r.status, status, `${path} ${JSON.stringify(body)} -> ${JSON.stringify(r.json)}`);
    assert.equal(r.json.code, code);
    assert.ok(r.json.detail.length > 5);
  }
  assert.equal((await w.svc.api('GET', '/v1/blocks')).json.version, v0);
  // an empty bucket list (nothing over the threshold) is fine and changes nothing
  const empty = await w.svc.api('POST', '/v1/hooks/watcher', { buckets: [] });
  assert.equal(empty.status, 200);
  assert.deepEqual(empty.json.blocked, []);
});
