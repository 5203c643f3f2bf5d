import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseFault, parseOptions, writeReports } from '../src/cli.js';
import { DEFAULTS, run } from '../src/engine.js';
import { htmlReport, lineChart, table4 } from '../src/report.js';
import { ACTIONS, MIX } from '../src/scenario.js';
import type { Summary } from '../src/types.js';
import { startMiniForum, type MiniForum } from './fixtures/mini-forum.js';

let forum: MiniForum;
let summary: Summary;
let wallS = 0;
const lines: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'loadtest-'));

before(async () => {
  forum = await startMiniForum(2);
  const t0 = Date.now();
  summary = await run({
    ...DEFAULTS,
    target: forum.url,
    users: 400,
    rampRate: 200,
    thinkTimeS: 1,
    postIntervalMs: 0, // the test server has no flood limit; the real default is covered by the seed run
    durationS: 6,
    seedThreads: 12,
    docker: false,
    progressS: 1,
    intervalS: 1,
    faults: [{ kind: 'api', atS: 3 }],
    progress: (l) => lines.push(l),
  });
  wallS = (Date.now() - t0) / 1000;
});

after(async () => {
  await forum.close();
  rmSync(dir, { recursive: true, force: true });
});

test('When the tool runs against a local server, then it stops by itself shortly after its duration', () => {
  assert.ok(summary.durationS >= 6 && summary.durationS < 6.5, `measured ${summary.durationS}`);
  assert.ok(wallS < 6 + 10, `wall ${wallS}s (seed + run + drain)`);
  assert.ok(lines.filter((l) => /^t=\s*\d+s users/.test(l)).length >= 4, lines.join('\n'));
  assert.match(
    lines.find((l) => /ops\/s/.test(l))!,
    /users\s+\d+\/400 ops\/s\s+[\d.]+ errors\s+\d+ \([\d.]+%\) p95 [\d.-]+/,
  );
});

test('When users log in with CSRF and act, then no request is rejected and the server saw every action', () => {
  assert.equal(forum.csrfRejected, 0);
  assert.equal(summary.totals.failures, 0, JSON.stringify(summary.errors));
  assert.equal(summary.actions.find((a) => a.name === 'login')!.count, 60); // 15 % of 400
  assert.equal(forum.users.size, 60);
  for (const k of ['read thread', 'reply', 'start thread', 'subscribe', 'list subscribed', 'list unread', 'list new', 'list my'])
    assert.ok((forum.hits.get(k) ?? 0) > 0, `server never saw ${k}`);
});

test('When the run is over, then Table 4 follows the 75/7/5/3/3/3/3/1 mix', () => {
  const ops = summary.actions.filter((a) => a.name !== 'login');
  const total = ops.reduce((s, a) => s + a.count, 0);
  assert.ok(total > 500, `only ${total} operations`);
  for (const a of ACTIONS) {
    const pct = (100 * ops.find((o) => o.name === a)!.count) / total;
    // within 4 standard deviations of a binomial draw (the exact mix is proven on 10^6 draws in scenario.test.ts)
    const sigma = 100 * Math.sqrt(((MIX[a] / 100) * (1 - MIX[a] / 100)) / total);
    assert.ok(Math.abs(pct - MIX[a]) < 4 * sigma + 0.1, `${a}: ${pct.toFixed(1)} % of ${total}`);
  }
  const t = table4(summary);
  assert.match(t.split('\n')[0], /action\s+requests\s+median ms\s+min ms\s+max ms\s+p95 ms\s+p99 ms\s+% failures/);
  assert.match(t, /^read thread\s+\d+/m);
});

test('When a fault is requested without Docker, then it is reported as not done and marked on the charts', () => {
  assert.equal(summary.faults.length, 1);
  assert.equal(summary.faults[0].ok, false);
  assert.ok(summary.faults[0].firedAtS >= 3 && summary.faults[0].firedAtS < 3.5);
  assert.match(htmlReport(summary), /class="fault"/);
});

test('When reports are written, then the JSON, text and self-contained HTML agree', () => {
  const files = writeReports(join(dir, 'sub', 'run1'), summary);
  for (const f of files) assert.ok(existsSync(f), f);
  const json = JSON.parse(readFileSync(files[0], 'utf8')) as Summary;
  assert.equal(json.totals.requests, summary.totals.requests);
  assert.equal(json.options.password, undefined);
  const html = readFileSync(files[1], 'utf8');
  assert.equal((html.match(/<svg /g) ?? []).length, 5); // percentiles, ops, errors, users, cpu (no Docker: replicas is a note)
  assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//, 'the report must not load anything');
  const embedded = JSON.parse(/<script type="application\/json" id="summary">(.*?)<\/script>/s.exec(html)![1]) as Summary;
  assert.equal(embedded.totals.requests, summary.totals.requests);
  assert.match(readFileSync(files[2], 'utf8'), /SLA \(SPEC §5 Table 1\): (PASS|FAIL)/);
  assert.ok(summary.loadgen.cpuUserS > 0 && summary.loadgen.cpuPctOfOneCore > 0);
});

test('When a chart has a gap and a fault, then the SVG breaks the line and draws the marker', () => {
  const svg = lineChart(
    'x',
    'ms',
    [
      {
        name: 'a<b',
        points: [
          [0, 1],
          [1, null],
          [2, 3],
          [3, 4],
        ],
      },
    ],
    [{ t: 2, label: 'kill pg' }],
    3,
  );
  assert.equal((svg.match(/M/g) ?? []).length, 2);
  assert.match(svg, /a&lt;b/);
  assert.match(svg, /kill pg/);
});

test('When options are given, then they are parsed and bad ones are named', () => {
  const p = parseOptions([
    '--users',
    '300',
    '--duration',
    '2m',
    '--fault',
    'pg-primary@60',
    '--fault',
    'service:redis-proxy@90s',
    '--target',
    'http://127.0.0.1:8080/',
  ])!;
  assert.equal(p.opts.users, 300);
  assert.equal(p.opts.durationS, 120);
  assert.equal(p.opts.target, 'http://127.0.0.1:8080');
  assert.deepEqual(p.opts.faults, [
    { kind: 'pg-primary', atS: 60 },
    { kind: 'service:redis-proxy', atS: 90 },
  ]);
  assert.throws(() => parseOptions(['--users', '0']), /--users/);
  assert.throws(() => parseOptions(['--duration', '60', '--fault', 'api@90']), /ends at 60/);
  assert.throws(() => parseFault('disk@5'), /--fault/);
  assert.throws(() => parseOptions(['--bogus']), /bogus/);
});
