import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { allRules, type Rules } from './rules.js';
import { kapacitorTask } from './tick.js';
import { bruteforceWatch } from './watcher.js';
import { dashboards } from './chronograf.js';
import { indexTemplate, ingestPipeline, kibanaObjects } from './elastic.js';

export interface Artifacts {
  tasks: ReturnType<typeof kapacitorTask>[];
  watch: Record<string, unknown>;
  dashboards: ReturnType<typeof dashboards>;
  indexTemplate: Record<string, unknown>;
  pipeline: Record<string, unknown>;
  kibana: string;
}

export function build(rules: Rules): Artifacts {
  const all = allRules(rules);
  return {
    tasks: all.map((r) => kapacitorTask(rules, r)),
    watch: bruteforceWatch(rules),
    dashboards: dashboards(rules, all),
    indexTemplate: indexTemplate(),
    pipeline: ingestPipeline(),
    kibana: kibanaObjects(rules),
  };
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** The file layout of configs/monitoring/ (committed; the snapshot test keeps it in sync with sla-rules.yml). */
export function files(a: Artifacts): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of a.tasks) out[`kapacitor/${t.id}.tick`] = t.script;
  out['elasticsearch/watcher-login-bruteforce.json'] = json(a.watch);
  out['elasticsearch/index-template-filebeat-forum.json'] = json(a.indexTemplate);
  out['elasticsearch/ingest-pipeline-forum-logs.json'] = json(a.pipeline);
  out['kibana/saved-objects.ndjson'] = a.kibana;
  for (const d of a.dashboards) out[`chronograf/${slug(d.name)}.json`] = json(d);
  return out;
}

export function writeFiles(dir: string, fs: Record<string, string>): void {
  for (const [rel, text] of Object.entries(fs)) {
    const p = join(dir, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
}
