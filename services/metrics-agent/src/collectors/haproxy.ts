import { int, type FieldValue, type Point } from '@forum/shared/influx';
import { fetchText, type Collector } from './types.js';

const RENAME: Record<string, string> = {
  act: 'active_servers',
  bck: 'backup_servers',
  cli_abrt: 'cli_abort',
  srv_abrt: 'srv_abort',
  hrsp_1xx: 'http_response.1xx',
  hrsp_2xx: 'http_response.2xx',
  hrsp_3xx: 'http_response.3xx',
  hrsp_4xx: 'http_response.4xx',
  hrsp_5xx: 'http_response.5xx',
  hrsp_other: 'http_response.other',
};
const STRING_FIELDS = new Set(['status', 'check_status', 'last_chk', 'last_agt', 'agent_status', 'mode', 'cookie', 'addr', 'algo']);
const SKIP = new Set(['pxname', 'svname', 'type', 'pid', 'iid', 'sid', 'tracked']);
const TYPES = ['frontend', 'backend', 'server', 'listener'];

/** Telegraf inputs.haproxy: one point per CSV row; tags server, proxy, sv, type; numeric columns as int. */
export function parseHaproxyCsv(csv: string, server: string): Point[] {
  const lines = csv.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0 || !lines[0].startsWith('# ')) throw new Error('not a HAProxy stats CSV');
  const header = lines[0].slice(2).split(',');
  const out: Point[] = [];
  for (const line of lines.slice(1)) {
    const cols = line.split(',');
    const row: Record<string, string> = {};
    header.forEach((h, i) => (row[h] = cols[i] ?? ''));
    const fields: Record<string, FieldValue> = {};
    for (const [k, v] of Object.entries(row)) {
      if (!k || SKIP.has(k) || v === '') continue;
      if (STRING_FIELDS.has(k)) {
        if (k === 'status' || k === 'check_status') fields[k] = v;
        continue;
      }
      if (/^-?\d+$/.test(v)) fields[RENAME[k] ?? k] = int(Number(v));
    }
    out.push({
      measurement: 'haproxy',
      tags: { server, proxy: row.pxname, sv: row.svname, type: TYPES[Number(row.type)] ?? row.type },
      fields,
    });
  }
  return out;
}

export const collectHaproxy: Collector = async (t, ctx) => {
  const url = `http://${t.address}:${t.port}${t.path ?? '/stats;csv'}`;
  return parseHaproxyCsv(await fetchText(url, ctx.timeoutMs), `${t.address}:${t.port}`);
};
