// A local HTTP server speaking Elasticsearch 8's _bulk wire contract (Elasticsearch itself cannot be installed here).
// It validates what a real cluster validates for NDJSON bulk bodies and answers exactly like one.
import http from 'node:http';

export interface BulkCall {
  path: string;
  contentType: string;
  lines: number;
}

export interface EsStub {
  url: string;
  docs: Map<string, { index: string; source: Record<string, any> }>;
  calls: BulkCall[];
  violations: string[];
  /** Answer the next n bulk requests with this HTTP status (e.g. 503) instead of processing them. */
  failNext(n: number, status?: number): void;
  /** Answer the next n documents with a per-item 429 (es_rejected_execution_exception). */
  rejectItems(n: number): void;
  setDown(down: boolean): void;
  close(): Promise<void>;
}

const HEADERS = { 'x-elastic-product': 'Elasticsearch', 'content-type': 'application/vnd.elasticsearch+json;compatible-with=8' };

export async function startEsStub(): Promise<EsStub> {
  const docs = new Map<string, { index: string; source: Record<string, any> }>();
  const calls: BulkCall[] = [];
  const violations: string[] = [];
  let fail = 0;
  let failStatus = 503;
  let reject = 0;
  let down = false;
  const server = http.createServer((req, res) => {
    if (down) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://x');
      const send = (status: number, obj: unknown) => {
        res.writeHead(status, HEADERS);
        res.end(JSON.stringify(obj));
      };
      if (req.method === 'GET' && url.pathname === '/') {
        return send(200, { name: 'stub', cluster_name: 'stub', version: { number: '8.15.0', build_flavor: 'default' }, tagline: 'You Know, for Search' });
      }
      if (!(req.method === 'POST' || req.method === 'PUT') || !/^\/(?:[^/]+\/)?_bulk$/.test(url.pathname)) {
        return send(404, { error: { type: 'stub_unsupported', reason: `${req.method} ${url.pathname}` }, status: 404 });
      }
      const ct = String(req.headers['content-type'] ?? '');
      const problems: string[] = [];
      if (!/application\/(vnd\.elasticsearch\+)?x-ndjson/.test(ct)) problems.push(`bad content-type ${ct}`);
      if (!body.endsWith('\n')) problems.push('the bulk body must end with a newline');
      const lines = body.split('\n');
      lines.pop();
      calls.push({ path: url.pathname + url.search, contentType: ct, lines: lines.length });
      if (fail > 0) {
        fail -= 1;
        return send(failStatus, { error: { type: 'unavailable', reason: 'stub told to fail' }, status: failStatus });
      }
      const items: unknown[] = [];
      let errors = false;
      for (let i = 0; i < lines.length; i++) {
        let action: Record<string, any>;
        try {
          action = JSON.parse(lines[i]);
        } catch {
          problems.push(`line ${i + 1} is not JSON`);
          break;
        }
        const keys = Object.keys(action);
        if (keys.length !== 1 || !['index', 'create', 'update', 'delete'].includes(keys[0])) {
          problems.push(`line ${i + 1}: action must be exactly one of index/create/update/delete, got ${keys.join(',')}`);
          break;
        }
        const op = keys[0];
        const meta = action[op];
        const index = meta._index ?? url.pathname.split('/')[1];
        if (!index || index === '_bulk') problems.push(`line ${i + 1}: no _index`);
        if (op === 'delete') continue;
        const srcLine = lines[++i];
        let source: Record<string, any>;
        try {
          source = JSON.parse(srcLine ?? '');
          if (typeof source !== 'object' || source === null || Array.isArray(source)) throw new Error('not an object');
        } catch {
          problems.push(`line ${i + 1}: the ${op} action must be followed by a JSON object source line`);
          break;
        }
        const id = meta._id ?? `auto-${docs.size + 1}`;
        if (reject > 0) {
          reject -= 1;
          errors = true;
          items.push({ [op]: { _index: index, _id: id, status: 429, error: { type: 'es_rejected_execution_exception', reason: 'stub queue full' } } });
          continue;
        }
        if (op === 'create' && docs.has(`${index}/${id}`)) {
          errors = true;
          items.push({
            [op]: {
              _index: index,
              _id: id,
              status: 409,
              error: { type: 'version_conflict_engine_exception', reason: `[${id}]: version conflict, document already exists` },
            },
          });
          continue;
        }
        docs.set(`${index}/${id}`, { index, source });
        items.push({ [op]: { _index: index, _id: id, _version: 1, result: 'created', status: 201, _shards: { total: 1, successful: 1, failed: 0 } } });
      }
      if (problems.length) {
        violations.push(...problems);
        return send(400, { error: { type: 'illegal_argument_exception', reason: problems[0] }, status: 400 });
      }
      send(200, { took: 1, errors, items });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    docs,
    calls,
    violations,
    failNext(n, status = 503) {
      fail = n;
      failStatus = status;
    },
    rejectItems(n) {
      reject = n;
    },
    setDown(d) {
      down = d;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
