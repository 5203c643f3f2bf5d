// A second `npm run deploy` with nothing changed must roll nothing: every image is tagged by its content
// (scripts/build-images.sh), and the services run exactly the tags a new build of the same checkout computes. A tag
// that moves without a change (base's once depended on its own previous tag) rolls the whole data tier, one member
// at a time, on every deploy: 10+ minutes and a PG and a Redis switchover each time.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { docker, STACK } from './support.js';

const run = promisify(execFile);
// images built on images/base (not node: its tag needs the staged app, which --tags-only would rebuild)
const SERVICES: Record<string, string> = { 'redis-0': 'redis', 'pg-0': 'postgres', pgpool: 'pgpool', sentinel: 'sentinel', 'redis-proxy': 'haproxy' };

async function tags(): Promise<Record<string, string>> {
  const names = ['base', ...new Set(Object.values(SERVICES))];
  const { stdout } = await run('bash', ['scripts/build-images.sh', '--tags-only', ...names], { maxBuffer: 16 * 1024 * 1024 });
  const out: Record<string, string> = {};
  for (const m of stdout.matchAll(/^([A-Z_]+)_TAG=(\S+)$/gm)) out[m[1].toLowerCase()] = m[2];
  return out;
}

test('When the same checkout is built again, then every image keeps its tag and the deployed services already run it', async () => {
  const first = await tags();
  const second = await tags();
  assert.deepEqual(second, first, 'two builds of one checkout computed different tags');
  for (const [svc, image] of Object.entries(SERVICES)) {
    const deployed = (await docker('service', 'inspect', '-f', '{{.Spec.TaskTemplate.ContainerSpec.Image}}', `${STACK}_${svc}`)).trim();
    const tag = deployed
      .replace(/@sha256:.*$/, '')
      .split(':')
      .pop();
    assert.equal(tag, first[image], `${STACK}_${svc} runs ${deployed}; a deploy now would roll it to forum/${image}:${first[image]}`);
  }
});
