import { int, type FieldValue, type Point } from '@forum/shared/influx';
import { fetchText, type Collector } from './types.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  return out;
}

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

/**
 * Prometheus text format -> Telegraf prometheus input (metric_version 1): measurement = metric family name,
 * labels become tags; counter -> field `counter`, gauge -> `gauge`, untyped -> `value`; histogram -> fields
 * `sum`, `count` and one field per bucket named by `le`; summary -> `sum`, `count` and one field per quantile.
 */
export function prometheusToPoints(text: string, extraTags: Record<string, string> = {}): Point[] {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (m) types.set(m[1], m[2]);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    samples.push({ name: m[1], labels: m[2] ? parseLabels(m[2]) : {}, value: parseValue(m[3]) });
  }
  const groups = new Map<string, Point>();
  const point = (family: string, labels: Record<string, string>): Point => {
    const tags = { ...labels, ...extraTags };
    const key = `${family}\u0000${JSON.stringify(Object.entries(tags).sort())}`;
    let p = groups.get(key);
    if (!p) {
      p = { measurement: family, tags, fields: {} };
      groups.set(key, p);
    }
    return p;
  };
  for (const s of samples) {
    let family = s.name;
    let kind = types.get(family);
    let suffix = '';
    if (!kind) {
      const m = /^(.*)_(bucket|sum|count)$/.exec(s.name);
      if (m && (types.get(m[1]) === 'histogram' || types.get(m[1]) === 'summary')) {
        family = m[1];
        kind = types.get(family);
        suffix = m[2];
      }
    }
    if (!Number.isFinite(s.value) && !(kind === 'histogram' && suffix === 'bucket')) continue;
    const fields = (labels: Record<string, string>): Record<string, FieldValue> => point(family, labels).fields;
    if (kind === 'histogram' || kind === 'summary') {
      const { le, quantile, ...rest } = s.labels;
      if (suffix === 'bucket' && le !== undefined) fields(rest)[le] = s.value;
      else if (suffix === 'sum') fields(rest).sum = s.value;
      else if (suffix === 'count') fields(rest).count = s.value;
      else if (kind === 'summary' && quantile !== undefined) fields(rest)[quantile] = s.value;
      continue;
    }
    const fieldName = kind === 'counter' ? 'counter' : kind === 'gauge' ? 'gauge' : 'value';
    fields(s.labels)[fieldName] = s.value;
  }
  // Telegraf's v1 prometheus input writes every value as float; keep that so types never flip.
  for (const p of groups.values()) for (const [k, v] of Object.entries(p.fields)) if (v instanceof Object) p.fields[k] = Number(v);
  return [...groups.values()];
}

export const collectPrometheus: Collector = async (t, ctx) => {
  const text = await fetchText(`http://${t.address}:${t.port}${t.path ?? '/metrics'}`, ctx.timeoutMs);
  return prometheusToPoints(text, { url: `http://${t.address}:${t.port}${t.path ?? '/metrics'}` });
};
export { int };
