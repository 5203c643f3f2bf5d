// The stack file as a newcomer's stock Debian Docker CLI reads it: Debian 12's docker.io (20.10, /usr/bin/docker on
// the host) and Debian 13's docker-cli (26.1.5, in a trixie container). Both once rejected `version: "3.13"`.
// The file is only parsed: DOCKER_HOST points at a socket that does not exist, so 20.10's `stack deploy` fails at
// the connection AFTER it has loaded the file, and 26.1's `stack config` renders it without an engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BASE = process.env.BASE_IMAGE ?? 'debian:trixie-slim';
const TRIXIE_CLI = 'forum-test/trixie-docker-cli:latest';

function run(cmd: string, args: string[], input?: string) {
  const r = spawnSync(cmd, args, { cwd: REPO, encoding: 'utf8', input, timeout: 600_000, env: { ...process.env, DOCKER_HOST: undefined } });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

test(
  "When Debian 12's docker CLI (/usr/bin/docker) reads docker-stack.yml, then it loads it",
  { skip: !existsSync('/usr/bin/docker') && 'no /usr/bin/docker' },
  () => {
    const r = spawnSync('/usr/bin/docker', ['stack', 'deploy', '-c', 'docker-stack.yml', 'parse-only'], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    });
    const out = `${r.stdout}${r.stderr}`;
    const version = spawnSync('/usr/bin/docker', ['version', '--format', '{{.Client.Version}}'], {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    }).stdout.trim();
    console.log(`# /usr/bin/docker ${version}: ${out.trim().split('\n')[0]}`);
    assert.doesNotMatch(out, /unsupported Compose file version|additional property|must be a|is not allowed|invalid/i, out);
    assert.match(out, /Cannot connect|nonexistent|no such file/i, `expected a connection error after the file loaded: ${out}`);
  },
);

test("When Debian 13's docker CLI (docker-cli 26.1 in trixie) reads docker-stack.yml, then it renders it", () => {
  if (run('docker', ['image', 'inspect', TRIXIE_CLI]).code !== 0) {
    const built = run(
      'docker',
      ['build', '-t', TRIXIE_CLI, '-'],
      `FROM ${BASE}\nRUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-cli && rm -rf /var/lib/apt/lists/*\n`,
    );
    assert.equal(built.code, 0, built.out.slice(-2000));
  }
  const r = run('docker', [
    'run',
    '--rm',
    '-v',
    `${REPO}:/repo:ro`,
    '-w',
    '/repo',
    '-e',
    'DOCKER_HOST=unix:///nonexistent.sock',
    TRIXIE_CLI,
    'sh',
    '-c',
    'docker version --format "{{.Client.Version}}"; docker stack config -c docker-stack.yml',
  ]);
  console.log(`# trixie docker-cli ${r.out.split('\n')[0]}`);
  assert.equal(r.code, 0, r.out.slice(-2000));
  assert.match(r.out, /^services:|\nservices:/m);
  assert.match(r.out, /pg-0:/);
});
