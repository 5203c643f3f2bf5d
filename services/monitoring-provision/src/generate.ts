import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { allRules, type Rules } from './rules.js';
import { kapacitorTask } from './tick.js';
import { bruteforceWatch } from './watcher.js';
import { dashboards, exportFile } from './chronograf.js';
import { indexTemplate, ingestPipeline, kibanaObjects } from './elastic.js';
import { autoscalerConnector, bruteforceRule, failedLoginKuery, ipblockConnector } from './kibana.js';
import { alertmanagerConfig } from './alertmanager.js';
import { ILM_POLICY, ilmPolicy, influxRetention } from './retention.js';

export interface Artifacts {
  tasks: ReturnType<typeof kapacitorTask>[];
  watch: Record<string, unknown>;
  dashboards: ReturnType<typeof dashboards>;
  indexTemplate: Record<string, unknown>;
  pipeline: Record<string, unknown>;
  kibana: string;
  kibanaRule: Record<string, unknown>;
  kibanaIpblockConnector: Record<string, unknown>;
  kibanaAutoscalerConnector: Record<string, unknown>;
  alertmanager: string;
  influxRetention: string[];
  ilmPolicy: Record<string, unknown>;
}

export function build(rules: Rules): Artifacts {
  const all = allRules(rules);
  return {
    tasks: all.map((r) => kapacitorTask(rules, r)),
    watch: bruteforceWatch(rules),
    dashboards: dashboards(rules, all),
    indexTemplate: indexTemplate(ILM_POLICY),
    pipeline: ingestPipeline(),
    kibana: kibanaObjects(failedLoginKuery(rules)),
    kibanaRule: bruteforceRule(rules),
    kibanaIpblockConnector: ipblockConnector(),
    kibanaAutoscalerConnector: autoscalerConnector(rules),
    alertmanager: alertmanagerConfig(rules),
    influxRetention: influxRetention(rules),
    ilmPolicy: ilmPolicy(rules),
  };
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** The file layout of configs/monitoring/ (committed; the snapshot test keeps it in sync with sla-rules.yml). */
export function files(a: Artifacts): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of a.tasks) out[`kapacitor/${t.id}.tick`] = t.script;
  out['elasticsearch/watcher-login-bruteforce.json'] = json(a.watch);
  out['elasticsearch/index-template-filebeat-forum.json'] = json(a.indexTemplate);
  out['elasticsearch/ingest-pipeline-forum-logs.json'] = json(a.pipeline);
  out[`elasticsearch/ilm-policy-${ILM_POLICY}.json`] = json(a.ilmPolicy);
  out['influxdb/retention.influxql'] =
    `-- GENERATED from configs/alerts/sla-rules.yml retention.days by services/monitoring-provision\n${a.influxRetention.join(';\n')};\n`;
  out['kibana/saved-objects.ndjson'] = a.kibana;
  out['kibana/rule-login-bruteforce.json'] = json(a.kibanaRule);
  out['kibana/connector-ipblock.json'] = json(a.kibanaIpblockConnector);
  out['kibana/connector-autoscaler.json'] = json(a.kibanaAutoscalerConnector);
  out['alertmanager/alertmanager.yml'] = a.alertmanager;
  for (const d of a.dashboards) out[`chronograf/${slug(d.name)}.json`] = json(exportFile(d));
  return out;
}

export function writeFiles(dir: string, fs: Record<string, string>): void {
  for (const [rel, text] of Object.entries(fs)) {
    const p = join(dir, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
}
