/**
 * The full autoscaling loop on the DEPLOYED `forum` stack (run after `npm run deploy`):
 *   NGINX client load above a lowered threshold -> metrics-agent -> InfluxDB -> alerter (nginx_scale_up)
 *   -> autoscaler -> forum_nginx replicas +1 -> Slack messages at a local receiver -> load stops -> recovery
 *   -> the low-mark alert (nginx_scale_down) is refused inside the cooldown: no flapping.
 * Also: the cooldown holds after the autoscaler's container is killed (the Swarm restarts it).
 *
 * For the run the test points the Slack secret of forum_autoscaler and forum_alerter at its own receiver
 * (on the docker_gwbridge gateway address, reachable from egress-net) and lowers two thresholds with the
 * alerter's RULE_OVERRIDES; it restores both services, nginx's replicas and its autoscale state afterwards.
 *
 * Env: EDGE_URL (default https://127.0.0.1:${EDGE_HTTPS_PORT:-443}; the stack's CA through NODE_EXTRA_CA_CERTS), STACK (default forum),
 *      LOAD_CONNECTIONS (default 60), AUTOSCALER_TOKEN_FILE (default secrets/autoscaler_token).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, docker, startSlackReceiver, until, type SlackReceiver } from '../../services/autoscaler/test/helpers.js';

const STACK = process.env.STACK ?? 'forum';
const EDGE = process.env.EDGE_URL ?? `https://127.0.0.1:${process.env.EDGE_HTTPS_PORT ?? '443'}`;
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 60);
const TOKEN = readFileSync(process.env.AUTOSCALER_TOKEN_FILE ?? join(REPO_ROOT, 'secrets', 'autoscaler_token'), 'utf8').trim();
const NGINX = `${STACK}_nginx`;
const AUTOSCALER = `${STACK}_autoscaler`;
const ALERTER = `${STACK}_alerter`;
const TEST_SECRET = `as-test-slack-${process.pid}`;
const STATE_LABELS = ['changed-at', 'direction', 'from', 'to', 'reason'].map((k) => `autoscale.state.${k}`);
const OVERRIDES = {
  nginx_scale_up: { warn: Math.floor(CONNECTIONS / 2), period: '30s' },
  nginx_scale_down: { period: '30s' },
};

interface Restore {
  slackSecret: Record<string, string>; // service -> original secret name
  alerterOverrides?: string;
  nginxReplicas?: number;
}
const restore: Restore = { slackSecret: {} };
let slack: SlackReceiver;

const inspect = async (svc: string) => JSON.parse(await docker('service', 'inspect', svc))[0];
const replicas = async () => (await inspect(NGINX)).Spec.Mode.Replicated.Replicas as number;

async function api(path: string, body?: unknown) {
  const res = await fetch(`${EDGE}/ops/autoscaler${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

function secretOf(info: any, target: string): string | undefined {
  return (info.Spec.TaskTemplate.ContainerSpec.Secrets ?? []).find((s: any) => s.File?.Name === target)?.SecretName;
}

/** Waits until every running task of `svc` runs the current spec (after an update). */
async function converged(svc: string, timeoutMs = 120_000) {
  await until(
    `${svc} converged`,
    async () => {
      const info = await inspect(svc);
      const state = info.UpdateStatus?.State;
      if (state && !['completed', 'rollback_completed'].includes(state)) return false;
      const out = await docker('service', 'ps', svc, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}');
      const running = out.split('\n').filter((l) => l.startsWith('Running')).length;
      return running >= 1 && !out.split('\n').some((l) => /^(Starting|Preparing|Assigned|Pending|New)/.test(l));
    },
    timeoutMs,
    1000,
  );
}

async function swapSlack(svc: string, to: string) {
  const from = secretOf(await inspect(svc), 'slack_webhook_url');
  assert.ok(from, `${svc} has a slack_webhook_url secret`);
  restore.slackSecret[svc] ??= from;
  return ['--secret-rm', from, '--secret-add', `source=${to},target=slack_webhook_url`];
}

/** Keeps `n` keep-alive connections busy with GET / until stopped. */
function startLoad(n: number) {
  const { Agent, request } = EDGE.startsWith('https:') ? https : http;
  const agent = new Agent({ keepAlive: true, maxSockets: n });
  let stop = false;
  let ok = 0;
  const once = () =>
    new Promise<void>((resolve) => {
      const req = request(`${EDGE}/`, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) ok++;
          resolve();
        });
      });
      req.on('error', () => setTimeout(resolve, 200));
      req.end();
    });
  const loops = Array.from({ length: n }, async () => {
    while (!stop) {
      await once();
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  return {
    ok: () => ok,
    stop: async () => {
      stop = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

before(async () => {
  for (const svc of [NGINX, AUTOSCALER, ALERTER]) await inspect(svc); // the stack is deployed
  const health = await fetch(`${EDGE}/`);
  assert.equal(health.status, 200, 'the edge answers');
  const gw = await docker('network', 'inspect', 'docker_gwbridge', '--format', '{{(index .IPAM.Config 0).Gateway}}');
  slack = await startSlackReceiver(gw);
  await new Promise<void>((resolve, reject) => {
    const p = spawn('docker', ['secret', 'create', TEST_SECRET, '-']);
    p.stdin!.end(slack.url);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker secret create exited ${code}`))));
  });
  // a clean start: nginx at its deployed replicas, no cooldown left from earlier runs
  const nginx = await inspect(NGINX);
  restore.nginxReplicas = nginx.Spec.Mode.Replicated.Replicas;
  const rm = STATE_LABELS.filter((l) => nginx.Spec.Labels?.[l] !== undefined).flatMap((l) => ['--label-rm', l]);
  if (rm.length) await docker('service', 'update', '--detach', ...rm, NGINX);
  const alerter = await inspect(ALERTER);
  const env: string[] = alerter.Spec.TaskTemplate.ContainerSpec.Env ?? [];
  restore.alerterOverrides = env.find((e) => e.startsWith('RULE_OVERRIDES='))?.slice('RULE_OVERRIDES='.length) ?? '';
  await docker('service', 'update', '--detach', ...(await swapSlack(AUTOSCALER, TEST_SECRET)), AUTOSCALER);
  await docker(
    'service',
    'update',
    '--detach',
    ...(await swapSlack(ALERTER, TEST_SECRET)),
    '--env-add',
    `RULE_OVERRIDES=${JSON.stringify(OVERRIDES)}`,
    ALERTER,
  );
  await converged(AUTOSCALER);
  await converged(ALERTER);
});

after(async () => {
  const steps: Array<[string, string[]]> = [];
  if (restore.slackSecret[AUTOSCALER])
    steps.push([AUTOSCALER, ['--secret-rm', TEST_SECRET, '--secret-add', `source=${restore.slackSecret[AUTOSCALER]},target=slack_webhook_url`]]);
  if (restore.slackSecret[ALERTER]) {
    steps.push([
      ALERTER,
      [
        '--secret-rm',
        TEST_SECRET,
        '--secret-add',
        `source=${restore.slackSecret[ALERTER]},target=slack_webhook_url`,
        '--env-add',
        `RULE_OVERRIDES=${restore.alerterOverrides ?? ''}`,
      ],
    ]);
  }
  if (restore.nginxReplicas !== undefined)
    steps.push([NGINX, ['--replicas', String(restore.nginxReplicas), ...STATE_LABELS.flatMap((l) => ['--label-rm', l])]]);
  for (const [svc, args] of steps) await docker('service', 'update', '--detach', ...args, svc).catch((e) => console.error(`restore ${svc}: ${e.message}`));
  for (const svc of [AUTOSCALER, ALERTER]) await converged(svc).catch(() => undefined);
  await docker('secret', 'rm', TEST_SECRET).catch(() => undefined);
  await slack?.close();
});

test(
  'When load raises an alert, then the autoscaler adds one nginx and tells Slack, the recovery follows, nothing flaps inside the cooldown, and the cooldown survives a killed autoscaler',
  { timeout: 600_000 },
  async () => {
    const r0 = await replicas();
    const policy = (await api(`/v1/services/nginx`)).json;
    assert.equal(policy.cooldownLeftSeconds, 0, JSON.stringify(policy));
    assert.ok(r0 < policy.policy.max, `nginx below its max (${r0} < ${policy.policy.max})`);

    const load = startLoad(CONNECTIONS);
    let scaledAt: number;
    try {
      await until('nginx replicas +1', async () => (await replicas()) === r0 + 1, 180_000, 1000);
      scaledAt = Date.now();
      assert.ok(load.ok() > 0, 'the load reached the edge');
      const texts = () => slack.messages.map((m) => `${m.color} ${m.text}`);
      await until(
        'Slack: the alert and the scale decision',
        async () => {
          const t = texts();
          return (
            t.some((x) => /^warning .*WARNING nginx_scale_up/.test(x)) &&
            t.some((x) => new RegExp(`^good .*autoscaler: ${NGINX} scaled up from ${r0} to ${r0 + 1}`).test(x))
          );
        },
        30_000,
      );
    } finally {
      await load.stop();
    }
    const labels = (await inspect(NGINX)).Spec.Labels;
    assert.equal(labels['autoscale.state.direction'], 'up');
    assert.match(labels['autoscale.state.reason'], /nginx_scale_up|WARNING/);

    // recovery: the up alert clears, the low-mark alert fires and the autoscaler refuses it inside the cooldown
    await until(
      'recovery + refused scale-down',
      async () => {
        const t = slack.messages.map((m) => `${m.color} ${m.text}`);
        return (
          t.some((x) => /^good .*OK nginx_scale_up/.test(x)) && t.some((x) => new RegExp(`^warning .*autoscaler: ${NGINX} was changed at .*cooldown`).test(x))
        );
      },
      240_000,
      1000,
    );
    assert.equal(await replicas(), r0 + 1, 'no flapping inside the cooldown');

    // kill the autoscaler's container: the Swarm starts a new task, which still refuses within the cooldown
    const task = await docker('ps', '--filter', `label=com.docker.swarm.service.name=${AUTOSCALER}`, '--format', '{{.ID}}');
    assert.ok(task, 'the autoscaler container runs here');
    await docker('kill', task.split('\n')[0]);
    const again = await until(
      'a new autoscaler answers',
      async () => {
        const r = await api(`/v1/services/nginx/scale`, { direction: 'up', reason: 'loop test after kill' }).catch(() => undefined);
        return r && r.status !== 502 && r.status !== 503 && r.status !== 504 ? r : undefined;
      },
      120_000,
      1000,
    );
    assert.equal(again.status, 409, JSON.stringify(again.json));
    assert.equal(again.json.code, 'cooldown');
    assert.ok(again.json.retryAfterSeconds > 0 && again.json.retryAfterSeconds <= 300 - Math.floor((Date.now() - scaledAt!) / 1000) + 5);
    assert.equal(await replicas(), r0 + 1);
  },
);
