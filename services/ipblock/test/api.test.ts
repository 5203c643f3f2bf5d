import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startIpblock, waitFor } from '../../../test/edge/lib/harness.js';
import { ipblockSuite } from './suite.js';

// two replicas on one Redis, like the stack's 2 ipblock tasks
const w = ipblockSuite({ replicas: 2, env: { IPBLOCK_SWEEP_INTERVAL_MS: '200' } });

const slackTexts = () => w.slack.messages.map((m) => m.text).join('\n');

describe('authentication', () => {
  test('When no or a wrong bearer token is sent, then every /v1 route answers 401 and nothing changes', async () => {
    const before = await w.replicas[0].api('GET', '/v1/blocks');
    for (const [method, path, body] of [
      ['GET', '/v1/blocks', undefined],
      ['POST', '/v1/blocks', { ip: '203.0.113.50', reason: 'x' }],
      ['DELETE', '/v1/blocks/203.0.113.50', undefined],
      ['POST', '/v1/hooks/watcher', { buckets: [{ key: '203.0.113.50', doc_count: 9 }] }],
      ['POST', '/v1/hooks/kibana', { ip: '203.0.113.50', count: 9 }],
    ] as const) {
      for (const tok of [null, 'wrong-token-0123456789abcdef', '']) {
        const r = await w.replicas[0].api(method, path, body, tok);
        assert.equal(r.status, 401, `${method} ${path} with ${tok}`);
        assert.equal(r.json.code, 'not_authenticated');
      }
    }
    const after = await w.replicas[0].api('GET', '/v1/blocks');
    assert.equal(after.json.version, before.json.version);
    assert.equal(after.json.count, 0);
  });

  test('When the service is probed without a token, then only health and metrics answer', async () => {
    assert.equal((await fetch(`${w.replicas[0].url}/healthcheck/`)).status, 200);
    assert.equal((await fetch(`${w.replicas[0].url}/healthcheck/ready/`)).status, 200);
    assert.match(await (await fetch(`${w.replicas[0].url}/metrics`)).text(), /http_request_duration_seconds/);
  });
});

describe('block, list, unblock', () => {
  test('When an IP is blocked on one replica, then both list it, Redis holds it with a TTL and Slack is told', async () => {
    const r = await w.replicas[0].api('POST', '/v1/blocks', { ip: '203.0.113.7', reason: 'manual test', ttlSeconds: 600 });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.ip, '203.0.113.7');
    assert.equal(r.json.updated, false);
    const list = await w.replicas[1].api('GET', '/v1/blocks');
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.json.blocks.map((x: { ip: string }) => x.ip),
      ['203.0.113.7'],
    );
    const ttl = Number(w.redis.cli('PTTL', 'ipblock:block:203.0.113.7'));
    assert.ok(ttl > 590_000 && ttl <= 600_000, `PTTL ${ttl}`);
    await waitFor('slack block message', () => /Blocked 203\.0\.113\.7 for 600 s/.test(slackTexts()));
    assert.equal(w.slack.messages.find((m) => m.text.includes('203.0.113.7'))?.attachments?.[0]?.color, 'danger');
  });

  test('When no ttlSeconds is given, then the block lasts one hour; blocking again extends it (200)', async () => {
    const r = await w.replicas[0].api('POST', '/v1/blocks', { ip: '2001:db8::42', reason: 'default ttl' });
    assert.equal(r.status, 201);
    const ms = Date.parse(r.json.expiresAt) - Date.parse(r.json.createdAt);
    assert.equal(ms, 3600_000);
    const again = await w.replicas[1].api('POST', '/v1/blocks', { ip: '2001:DB8:0::42', reason: 'again', ttlSeconds: 7200 });
    assert.equal(again.status, 200);
    assert.equal(again.json.updated, true);
    assert.equal(again.json.ip, '2001:db8::42');
  });

  test('When an IP is unblocked, then it disappears everywhere, Slack is told, and a second unblock is 404', async () => {
    await w.replicas[0].api('POST', '/v1/blocks', { ip: '198.51.100.0/24', reason: 'range' });
    const del = await w.replicas[1].api('DELETE', `/v1/blocks/${encodeURIComponent('198.51.100.0/24')}`);
    assert.equal(del.status, 200, JSON.stringify(del.json));
    assert.equal(del.json.unblocked, true);
    const list = await w.replicas[0].api('GET', '/v1/blocks');
    assert.ok(!list.json.blocks.some((x: { ip: string }) => x.ip === '198.51.100.0/24'));
    assert.equal(w.redis.cli('EXISTS', 'ipblock:block:198.51.100.0/24'), '0');
    const again = await w.replicas[0].api('DELETE', '/v1/blocks/198.51.100.0/24');
    assert.equal(again.status, 404);
    assert.equal(again.json.code, 'not_found');
    await waitFor('slack unblock message', () => /Unblocked 198\.51\.100\.0\/24/.test(slackTexts()));
  });
});

describe('bad input changes nothing', () => {
  test('When the IP, TTL or body is invalid, then a clear 4xx names the problem and the version stays', async () => {
    const v0 = (await w.replicas[0].api('GET', '/v1/blocks')).json.version;
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ ip: 'not-an-ip', reason: 'x' }, 400, 'invalid_ip', /not a valid IPv4 or IPv6/],
      [{ ip: '127.0.0.1', reason: 'x' }, 422, 'protected_range', /loopback/],
      [{ ip: '10.0.0.5', reason: 'x' }, 422, 'protected_range', /private/],
      [{ ip: '172.18.0.1', reason: 'x' }, 422, 'protected_range', /lock out/],
      [{ ip: 'fd12::1', reason: 'x' }, 422, 'protected_range', /private/],
      [{ ip: '0.0.0.0/0', reason: 'x' }, 422, 'prefix_too_broad', /broader/],
      [{ ip: '203.0.113.9', reason: 'x', ttlSeconds: -5 }, 400, 'invalid_ttl', /ttlSeconds/],
      [{ ip: '203.0.113.9', reason: 'x', ttlSeconds: 1.5 }, 400, 'invalid_ttl', /integer/],
      [{ ip: '203.0.113.9', reason: 'x', ttlSeconds: '60' }, 400, 'invalid_body', /ttlSeconds/],
      [{ ip: '203.0.113.9' }, 400, 'invalid_body', /reason/],
      [{ ip: 12, reason: 'x' }, 400, 'invalid_body', /ip/],
      [{ ip: '203.0.113.9', reason: 'x', extra: 1 }, 400, 'invalid_body', /extra/],
      ['{"ip": "203.0.113.9", ', 400, 'parse_error', /JSON/],
      ['[1,2]', 400, 'invalid_body', /JSON object/],
    ];
    for (const [body, status, code, detail] of cases) {
      const r = await w.replicas[0].api('POST', '/v1/blocks', body);
      assert.equal(r.status, status, `${JSON.stringify(body)} -> ${JSON.stringify(r.json)}`);
      assert.equal(r.json.code, code, JSON.stringify(body));
      assert.match(r.json.detail, detail);
    }
    assert.equal((await w.replicas[0].api('DELETE', '/v1/blocks/zzz')).status, 400);
    assert.equal((await w.replicas[0].api('GET', '/v1/blocks?since=abc')).status, 400);
    assert.equal((await w.replicas[0].api('GET', '/v1/blocks?since=1&wait=9999')).status, 400);
    const after = await w.replicas[0].api('GET', '/v1/blocks');
    assert.equal(after.json.version, v0);
    assert.ok(!after.json.blocks.some((x: { ip: string }) => x.ip === '203.0.113.9'));
  });
});

describe('long-poll and expiry', () => {
  test('When a waiting long-poll on one replica sees a block made on the other, then it answers within 500 ms', async () => {
    const { version } = (await w.replicas[1].api('GET', '/v1/blocks')).json;
    const started = Date.now();
    const poll = w.replicas[1].api('GET', `/v1/blocks?since=${version}&wait=20`);
    await new Promise((r) => setTimeout(r, 300)); // the poll must actually be waiting when the change happens
    const posted = Date.now();
    await w.replicas[0].api('POST', '/v1/blocks', { ip: '203.0.113.66', reason: 'long-poll' });
    const r = await poll;
    const answered = Date.now();
    assert.ok(r.json.version > version);
    assert.ok(r.json.blocks.some((x: { ip: string }) => x.ip === '203.0.113.66'));
    assert.ok(answered - posted < 500, `answered ${answered - posted} ms after the change`);
    assert.ok(answered - started >= 300);
  });

  test('When nothing changes, then the long-poll answers after its wait with the same version', async () => {
    const { version } = (await w.replicas[0].api('GET', '/v1/blocks')).json;
    const t = Date.now();
    const r = await w.replicas[0].api('GET', `/v1/blocks?since=${version}&wait=1`);
    assert.equal(r.json.version, version);
    assert.ok(Date.now() - t >= 950);
  });

  test('When a block reaches its TTL, then it leaves the list and Redis by itself, waiters wake, Slack is told once', async () => {
    const r = await w.replicas[0].api('POST', '/v1/blocks', { ip: '203.0.113.99', reason: 'short', ttlSeconds: 2 });
    assert.equal(r.status, 201);
    const poll = w.replicas[0].api('GET', `/v1/blocks?since=${r.json.version}&wait=20`);
    const expiredAt = await waitFor(
      'expiry',
      async () => {
        const l = await w.replicas[1].api('GET', '/v1/blocks');
        return !l.json.blocks.some((x: { ip: string }) => x.ip === '203.0.113.99') && Date.now();
      },
      6000,
    );
    assert.ok(expiredAt - Date.parse(r.json.createdAt) >= 1900);
    const woke = await poll;
    assert.ok(woke.json.version > r.json.version);
    await waitFor('index swept', () => w.redis.cli('ZSCORE', 'ipblock:expiry', '203.0.113.99') === '');
    assert.equal(w.redis.cli('EXISTS', 'ipblock:block:203.0.113.99'), '0');
    await waitFor('slack expiry message', () => /Block of 203\.0\.113\.99 expired/.test(slackTexts()));
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(slackTexts().match(/Block of 203\.0\.113\.99 expired/g)?.length, 1, 'two replicas sweep, one message');
  });
});

describe('shutdown', () => {
  test('When SIGTERM arrives during a long-poll, then the poll is answered and the process exits 0 quickly', async () => {
    const c = await startIpblock({ redis: w.redis, secretsDir: w.secretsDir });
    const poll = c.api('GET', `/v1/blocks?since=${(await c.api('GET', '/v1/blocks')).json.version}&wait=30`);
    await new Promise((r) => setTimeout(r, 200));
    const t = Date.now();
    c.proc.kill('SIGTERM');
    const r = await poll;
    assert.equal(r.status, 200);
    assert.equal(await c.exited, 0);
    assert.ok(Date.now() - t < 5000);
  });
});
