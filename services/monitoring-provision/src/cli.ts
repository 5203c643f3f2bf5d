// npm run monitoring:provision -- --influx URL --kapacitor URL --es URL --kibana URL --chronograf URL [options]
// Generates everything from configs/alerts/sla-rules.yml and installs it on the monitoring VM.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadRules } from './rules.js';
import { build, files, writeFiles } from './generate.js';
import { provision, type Targets } from './provision.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const USAGE = `usage: npm run monitoring:provision -- [--influx URL] [--kapacitor URL] [--es URL] [--kibana URL] [--chronograf URL]
  [--edge-url URL] [--rules FILE] [--slack-webhook-file FILE] [--ipblock-token-file FILE] [--autoscaler-url URL] [--autoscaler-token-file FILE]
  [--es-user NAME --es-password-file FILE] [--chronograf-influx-url URL] [--generate DIR] [--dry-run]
--edge-url (default: $EDGE_URL) is the stack's edge as the VM reaches it, https://<edge-host>: Kapacitor and
the watcher reach the autoscaler and ipblock through its /ops/autoscaler/v1/ and /ops/ipblock/v1/ routes.
Secrets are read from files (Docker secrets / 0600 files), never from arguments.`;

function fail(msg: string): never {
  process.stderr.write(`${JSON.stringify({ level: 'error', detail: msg, code: 'invalid_arguments' })}\n${USAGE}\n`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      influx: { type: 'string' },
      kapacitor: { type: 'string' },
      es: { type: 'string' },
      kibana: { type: 'string' },
      chronograf: { type: 'string' },
      'edge-url': { type: 'string', default: process.env.EDGE_URL },
      rules: { type: 'string', default: resolve(root, 'configs/alerts/sla-rules.yml') },
      'slack-webhook-file': { type: 'string' },
      'ipblock-token-file': { type: 'string' },
      'autoscaler-url': { type: 'string' },
      'autoscaler-token-file': { type: 'string' },
      'es-user': { type: 'string' },
      'es-password-file': { type: 'string' },
      'chronograf-influx-url': { type: 'string' },
      generate: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }).values;
} catch (err) {
  fail((err as Error).message);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const targets: Targets = {};
for (const k of ['influx', 'kapacitor', 'es', 'kibana', 'chronograf'] as const) {
  const v = args[k];
  if (v === undefined) continue;
  try {
    const u = new URL(v);
    if (!/^https?:$/.test(u.protocol)) throw new Error('not http(s)');
  } catch {
    fail(`--${k} must be an http(s) URL, got "${v}"`);
  }
  targets[k] = v;
}
const edgeUrl = args['edge-url'] || undefined;
if (edgeUrl !== undefined) {
  try {
    const u = new URL(edgeUrl);
    if (!/^https?:$/.test(u.protocol) || u.pathname !== '/') throw new Error('not an http(s) origin');
  } catch {
    fail(`--edge-url must be the edge's http(s) origin like http://edge.example, got "${edgeUrl}"`);
  }
}
const secret = (flag: string, path?: string): string | undefined => {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    fail(`--${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
};

let rules;
try {
  rules = loadRules(args.rules!);
} catch (err) {
  fail((err as Error).message);
}
const artifacts = build(rules);
if (args.generate) {
  writeFiles(resolve(args.generate), files(artifacts));
  process.stdout.write(`${JSON.stringify({ generated: Object.keys(files(artifacts)).length, dir: resolve(args.generate) })}\n`);
}
if (Object.keys(targets).length === 0) {
  if (!args.generate) fail('nothing to do: give at least one of --influx --kapacitor --es --kibana --chronograf (or --generate DIR)');
  process.exit(0);
}
if (args['dry-run']) {
  process.stdout.write(
    `${JSON.stringify({ dryRun: true, targets, tasks: artifacts.tasks.map((t) => t.id), dashboards: artifacts.dashboards.map((d) => d.name) })}\n`,
  );
  process.exit(0);
}
const results = await provision(
  artifacts,
  targets,
  {
    slackWebhookUrl: secret('slack-webhook-file', args['slack-webhook-file']),
    ipblockToken: secret('ipblock-token-file', args['ipblock-token-file']),
    autoscalerToken: secret('autoscaler-token-file', args['autoscaler-token-file']),
    esUser: args['es-user'],
    esPassword: secret('es-password-file', args['es-password-file']),
  },
  {
    edgeUrl,
    autoscalerUrl: args['autoscaler-url'],
    slackChannel: rules.notify.slack.channel,
    influxDb: rules.influx.database,
    influxUrlForChronograf: args['chronograf-influx-url'],
  },
);
for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
const failed = results.filter((r) => !r.ok);
process.stdout.write(`${JSON.stringify({ ok: failed.length === 0, steps: results.length, failed: failed.length })}\n`);
process.exit(failed.length ? 1 : 0);
