/**
 * The backup_age SLA rule end to end, every hop real: the backup service (its last success seeded from the newest
 * dump on its volume) -> metrics-agent scraping its /metrics as in the stack -> influxd -> the alerter evaluating
 * the shipped configs/alerts/sla-rules.yml -> a Slack stand-in (the incoming-webhook wire format of docs/REQUIREMENTS.md §7).
 * RULE_OVERRIDES shortens only the rule's windows; its threshold (26 h) is the shipped one. No Swarm, no Docker.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startInfluxd, startSlackReceiver, tempDir, waitFor, type Influxd, type SlackReceiver } from '@forum/test-support';
import { REPO_ROOT, startNodeService, type Proc } from '../../autoscaler/test/helpers.js';

const RULE = 'backup_age';
const entry = (svc: string) => join(REPO_ROOT, 'services', svc, 'src', 'main.ts');
const tmp = tempDir('alerter-backup-age-');
let influx: Influxd;
let slack: SlackReceiver;
const procs: Proc[] = [];

before(async () => {
  influx = await startInfluxd({ prefix: 'alerter-backup-influx-' });
  slack = await startSlackReceiver({ strict: true });
});

after(async () => {
  for (const p of procs) await p.kill();
  await influx?.stop();
  await slack?.close();
  tmp.remove();
});

const start = async (svc: string, env: Record<string, string>) => {
  const p = await startNodeService(entry(svc), env);
  procs.push(p);
  return p;
};

/** backup (newest dump `ageHours` old) -> metrics-agent -> influxd database `db` <- alerter. */
async function pipeline(db: string, ageHours: number): Promise<Proc> {
  await influx.query(`CREATE DATABASE ${db}`);
  const dir = join(tmp.dir, db);
  mkdirSync(dir);
  const dump = join(dir, 'forum-2026-12-01T02-00-00-000Z.dump');
  writeFileSync(dump, 'x');
  const mtime = Date.now() / 1000 - ageHours * 3600;
  utimesSync(dump, mtime, mtime);
  // the dump's mtime is the last success (a scheduled run would fail against port 9 and leave it alone)
  const backup = await start('backup', { PGPASSWORD: 'unused', PGHOST: '127.0.0.1', PGPORT: '9', BACKUP_DIR: dir });
  await start('metrics-agent', {
    INFLUX_URL: influx.url,
    INFLUX_DB: db,
    DISCOVERY: 'none',
    STATIC_TARGETS: `backup=prometheus@127.0.0.1:${backup.port}/metrics`,
    HOST_METRICS: 'false',
    DOCKER_METRICS: 'false',
    INTERVAL_SECONDS: '1',
    NODE_HOSTNAME: 'node1',
  });
  return start('alerter', {
    SLA_RULES_FILE: join(REPO_ROOT, 'configs', 'alerts', 'sla-rules.yml'),
    RULE_OVERRIDES: JSON.stringify({ [RULE]: { period: '4s', bucket: '1s', reduce: 'last', every: '1s' } }),
    INFLUX_URL: influx.url,
    INFLUX_DB: db,
    SLACK_WEBHOOK_URL: slack.url,
    EVAL_INTERVAL_SECONDS: '0.5',
  });
}

/** The alerter's state of the rule once it has evaluated a value (hours) matching `want`. */
async function evaluated(alerter: Proc, want: (hours: number) => boolean) {
  return waitFor(
    `${RULE} evaluated`,
    async () => {
      const body = (await (await fetch(`${alerter.url}/v1/alerts`)).json()) as {
        rules: Array<{ id: string; groups: Array<{ level: string; value: number }> }>;
      };
      const g = body.rules.find((r) => r.id === RULE)?.groups[0];
      return g && want(g.value) ? g : undefined;
    },
    30_000,
    200,
  );
}

const mine = () => slack.messages.filter((m) => m.text.includes(RULE));

describe('backup_age SLA rule', () => {
  test('When the last good backup is 2 h old, then the rule evaluates it and stays OK without a Slack message', async () => {
    const alerter = await pipeline('backup_fresh', 2);
    const g = await evaluated(alerter, (h) => h > 1.9 && h < 2.1);
    assert.equal(g.level, 'OK');
    assert.deepEqual(
      mine().map((m) => m.text),
      [],
    );
  });

  test('When the last good backup is 30 h old, then a WARNING naming its age and the 26 h threshold is posted to Slack', async () => {
    const alerter = await pipeline('backup_stale', 30);
    const [msg] = await waitFor('the backup_age Slack message', () => (mine().length ? mine() : undefined), 30_000, 200);
    assert.equal(msg.text, ':warning: WARNING backup_age: Age of the last good database backup (h) is 30.0 h (warning > 26)');
    assert.equal(msg.body.channel, '#alerts', 'the channel of the rules file');
    assert.deepEqual(msg.body.blocks, [{ type: 'section', text: { type: 'mrkdwn', text: msg.text } }]);
    const [attachment] = msg.body.attachments as Array<{ color: string; fallback: string; fields: Array<{ title: string; value: string }> }>;
    assert.equal(attachment.color, 'warning');
    assert.equal(attachment.fallback, msg.text);
    assert.deepEqual(
      attachment.fields.filter((f) => ['rule', 'service', 'level'].includes(f.title)).map((f) => `${f.title}=${f.value}`),
      ['rule=backup_age', 'service=backup', 'level=WARNING'],
    );
    assert.equal((await evaluated(alerter, (h) => h > 26)).level, 'WARNING');
  });
});
