// Stubs of the monitoring VM's HTTP APIs (Kapacitor, Elasticsearch, Kibana, Chronograf) at their documented paths,
// keeping state so idempotency can be checked. They reject malformed bodies like the real servers would.
import http from 'node:http';

export interface Req {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface VmStub {
  url: string;
  requests: Req[];
  tasks: Map<string, any>;
  esDocs: Map<string, any>;
  kibanaImports: string[];
  dashboards: Map<number, any>;
  sources: any[];
  kapacitorConfig: Record<string, any>;
  close(): Promise<void>;
}

export async function startVmStub(): Promise<VmStub> {
  const s: Omit<VmStub, 'url' | 'close'> = {
    requests: [],
    tasks: new Map(),
    esDocs: new Map(),
    kibanaImports: [],
    dashboards: new Map(),
    sources: [],
    kapacitorConfig: {},
  };
  let nextDash = 1;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://x');
      const p = url.pathname;
      s.requests.push({ method: req.method!, path: p + url.search, headers: req.headers, body });
      const send = (status: number, obj?: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(obj === undefined ? '' : JSON.stringify(obj));
      };
      const json = (): any => {
        try {
          return JSON.parse(body);
        } catch {
          return undefined;
        }
      };
      const m = req.method;
      // InfluxDB
      if (p === '/query' && m === 'POST') return send(200, { results: [{ statement_id: 0 }] });
      // Kapacitor
      if (p === '/kapacitor/v1/tasks' && m === 'POST') {
        const t = json();
        if (!t?.id || !t.script || !Array.isArray(t.dbrps) || !['batch', 'stream'].includes(t.type)) return send(400, { error: 'invalid task' });
        if (s.tasks.has(t.id)) return send(400, { error: 'task already exists' });
        s.tasks.set(t.id, t);
        return send(200, { ...t, link: { rel: 'self', href: `/kapacitor/v1/tasks/${t.id}` } });
      }
      if (p === '/kapacitor/v1/tasks' && m === 'GET') return send(200, { tasks: [...s.tasks.values()].map((t) => ({ id: t.id })) });
      let mm = /^\/kapacitor\/v1\/tasks\/([^/]+)$/.exec(p);
      if (mm) {
        const t = s.tasks.get(mm[1]);
        if (m === 'GET') return t ? send(200, t) : send(404, { error: 'no task exists' });
        if (m === 'PATCH') {
          if (!t) return send(404, { error: 'no task exists' });
          s.tasks.set(mm[1], { ...t, ...json() });
          return send(200, s.tasks.get(mm[1]));
        }
        if (m === 'DELETE') {
          s.tasks.delete(mm[1]);
          return send(204);
        }
      }
      if (p === '/kapacitor/v1/config/slack/' && m === 'POST') {
        s.kapacitorConfig.slack = json()?.set;
        return send(204);
      }
      if (p === '/kapacitor/v1/config/httppost' && m === 'POST') {
        const add = json()?.add;
        if (s.kapacitorConfig[`httppost/${add?.endpoint}`]) return send(400, { error: 'element already exists' });
        s.kapacitorConfig[`httppost/${add?.endpoint}`] = add;
        return send(204);
      }
      mm = /^\/kapacitor\/v1\/config\/httppost\/(\w+)$/.exec(p);
      if (mm && m === 'POST') {
        s.kapacitorConfig[`httppost/${mm[1]}`] = { ...s.kapacitorConfig[`httppost/${mm[1]}`], ...json()?.set };
        return send(204);
      }
      // Elasticsearch
      if (
        m === 'PUT' &&
        (/^\/_ilm\/policy\/[\w-]+$/.test(p) ||
          /^\/_ingest\/pipeline\/[\w-]+$/.test(p) ||
          /^\/_index_template\/[\w-]+$/.test(p) ||
          /^\/_watcher\/watch\/[\w-]+$/.test(p))
      ) {
        const j = json();
        if (!j) return send(400, { error: { type: 'parse_exception' } });
        const created = !s.esDocs.has(p);
        s.esDocs.set(p, j);
        return send(
          p.startsWith('/_watcher') && created ? 201 : 200,
          p.startsWith('/_watcher') ? { _id: p.split('/').pop(), created } : { acknowledged: true },
        );
      }
      // Kibana
      if (p === '/api/saved_objects/_import' && m === 'POST') {
        if (req.headers['kbn-xsrf'] === undefined)
          return send(400, { statusCode: 400, error: 'Bad Request', message: 'Request must contain a kbn-xsrf header.' });
        if (!String(req.headers['content-type']).startsWith('multipart/form-data')) return send(415, { message: 'Unsupported Media Type' });
        const part = /\r\n\r\n([\s\S]*?)\r\n--/.exec(body)?.[1] ?? '';
        const lines = part.split('\n').filter(Boolean);
        try {
          lines.forEach((l) => JSON.parse(l));
        } catch {
          return send(400, { message: 'invalid ndjson' });
        }
        s.kibanaImports.push(part);
        return send(200, { success: true, successCount: lines.length, errors: [] });
      }
      // Chronograf
      if (p === '/chronograf/v1/sources' && m === 'GET') return send(200, { sources: s.sources });
      if (p === '/chronograf/v1/sources' && m === 'POST') {
        const src = { ...json(), id: String(s.sources.length + 1) };
        s.sources.push(src);
        return send(201, src);
      }
      mm = /^\/chronograf\/v1\/sources\/(\d+)\/kapacitors$/.exec(p);
      if (mm) {
        const src = s.sources.find((x) => x.id === mm![1]);
        if (!src) return send(404, { message: 'source not found' });
        src.kapacitors ??= [];
        if (m === 'GET') return send(200, { kapacitors: src.kapacitors });
        src.kapacitors.push(json());
        return send(201, json());
      }
      if (p === '/chronograf/v1/dashboards' && m === 'GET') return send(200, { dashboards: [...s.dashboards.values()] });
      if (p === '/chronograf/v1/dashboards' && m === 'POST') {
        const d = json();
        if (!d?.name || !Array.isArray(d.cells)) return send(400, { message: 'invalid dashboard' });
        const id = nextDash++;
        s.dashboards.set(id, { ...d, id });
        return send(201, { ...d, id });
      }
      mm = /^\/chronograf\/v1\/dashboards\/(\d+)$/.exec(p);
      if (mm && m === 'PUT') {
        if (!s.dashboards.has(Number(mm[1]))) return send(404, { message: 'not found' });
        s.dashboards.set(Number(mm[1]), { ...json(), id: Number(mm[1]) });
        return send(200, s.dashboards.get(Number(mm[1])));
      }
      send(404, { error: `stub: no route ${m} ${p}` });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return { ...s, url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) } as VmStub;
}
