import { int, type Point } from '@forum/shared/influx';
import { fetchText, type Collector } from './types.js';

/** Telegraf inputs.nginx: parses stub_status; tags server, port; all fields int. */
export function parseStubStatus(text: string, server: string, port: string): Point {
  const active = /Active connections:\s*(\d+)/.exec(text);
  const counts = /\s(\d+)\s+(\d+)\s+(\d+)\s*\n/.exec(text.split(/server accepts handled requests/)[1] ?? '');
  const rww = /Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)/.exec(text);
  if (!active || !counts || !rww) throw new Error('not an nginx stub_status page');
  return {
    measurement: 'nginx',
    tags: { server, port },
    fields: {
      active: int(active[1]),
      accepts: int(counts[1]),
      handled: int(counts[2]),
      requests: int(counts[3]),
      reading: int(rww[1]),
      writing: int(rww[2]),
      waiting: int(rww[3]),
    },
  };
}

export const collectNginx: Collector = async (t, ctx) => {
  const text = await fetchText(`http://${t.address}:${t.port}${t.path ?? '/nginx_status'}`, ctx.timeoutMs);
  return [parseStubStatus(text, t.address, String(t.port))];
};
