// `npm run loadtest` stopped with Ctrl-C: the real CLI as a child process against a local Misago-dialect server,
// SIGINT once load is running; it must write the report of what ran (marked interrupted) and exit 130.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Summary } from '../src/types.js';
import { startMiniForum, type MiniForum } from './fixtures/mini-forum.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..', '..');
const CLI = resolve(HERE, '..', 'src', 'cli.ts');

let forum: MiniForum;
const dir = mkdtempSync(join(tmpdir(), 'loadtest-sigint-'));

before(async () => {
  forum = await startMiniForum(2);
});

after(async () => {
  await forum.close();
  rmSync(dir, { recursive: true, force: true });
});

test('When the load test is stopped with Ctrl-C (SIGINT), then it writes the report of what ran and exits 130', async () => {
  const prefix = join(dir, 'run');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      CLI,
      '--target',
      forum.url,
      '--users',
      '40',
      '--ramp',
      '20',
      '--think',
      '1',
      '--duration',
      '300',
      '--seed-threads',
      '4',
      '--no-docker',
      '--progress',
      '1',
      '--interval',
      '1',
      '--report',
      prefix,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

  // load is running once two progress lines have reported operations
  const deadline = Date.now() + 60_000;
  while ((stderr.match(/^t=\s*\d+s users\s+\d+\/40 ops\/s\s+[1-9]/gm) ?? []).length < 2) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      assert.fail(`no load within 60 s (exit ${child.exitCode}):\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const sentAt = Date.now();
  child.kill('SIGINT');
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
  if (code === 'timeout') child.kill('SIGKILL');
  assert.equal(code, 130, `exit code after SIGINT; stderr:\n${stderr}`);
  assert.ok(Date.now() - sentAt < 20_000, 'it stops within the drain bound, not at the end of --duration');

  for (const ext of ['json', 'html', 'txt']) assert.ok(existsSync(`${prefix}.${ext}`), `${prefix}.${ext} missing`);
  const s = JSON.parse(readFileSync(`${prefix}.json`, 'utf8')) as Summary;
  assert.equal(s.tool, 'forum-loadtest');
  assert.deepEqual(s.interrupted && { reason: s.interrupted.reason }, { reason: 'SIGINT' });
  assert.ok(s.durationS >= 1 && s.durationS < 300, `measured ${s.durationS} s`);
  assert.equal(s.interrupted!.atS, s.durationS);
  assert.ok(s.totals.requests > 0, 'the report holds the requests made before the stop');
  assert.equal(
    s.totals.requests,
    s.actions.reduce((n, a) => n + a.count, 0),
  );
  assert.ok(s.series.length >= 1);
  assert.match(readFileSync(`${prefix}.txt`, 'utf8'), /^INTERRUPTED \(SIGINT\) at t=[\d.]+ s of 300 s/);
  assert.match(readFileSync(`${prefix}.html`, 'utf8'), /Interrupted \(SIGINT\)/);
  assert.match(stdout, /reports: .*run\.json/);
});
