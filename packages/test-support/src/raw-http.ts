/**
 * HTTP/1.1 over a plain TCP socket (or TLS, `tls`), byte for byte as given: fetch() and node:http normalise or refuse
 * exactly what a fuzzer wants to send (dot segments, %2e%2e, raw NUL bytes, odd methods, duplicate or malformed
 * headers). One request per connection (`Connection: close` is the caller's to send), the answer read until the
 * server closes.
 */
import { connect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

export interface RawResponse {
  /** 0 when the bytes received hold no HTTP status line */
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  ms: number;
}

/** The request head: request line and headers as given, CRLF-terminated. Values are written as UTF-8 (NUL bytes included). */
export function rawHead(method: string, target: string, headers: readonly (readonly [string, string])[], version = 'HTTP/1.1'): Buffer {
  const lines = [`${method} ${target} ${version}`, ...headers.map(([k, v]) => `${k}: ${v}`)];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8');
}

/**
 * Sends head + body and resolves with the (last non-1xx) answer. A server that answers early (413, 400) and
 * resets the rest of a large upload still yields its answer; a connection that ends without any status line
 * rejects. Bodies beyond `maxBytes` are cut (the status and headers are what a fuzzer checks).
 */
export function rawRequest(opts: {
  host: string;
  port: number;
  head: Buffer;
  body?: Buffer;
  timeoutMs?: number;
  maxBytes?: number;
  /** a HEAD request: the answer has headers only, whatever its Content-Length says */
  headersOnly?: boolean;
  /**
   * TLS first (the certificate verified as tls.connect does: Node's CAs, NODE_EXTRA_CA_CERTS, or the options' `ca`),
   * no ALPN, so the server speaks HTTP/1.x; true = default options
   */
  tls?: boolean | ConnectionOptions;
}): Promise<RawResponse> {
  const started = Date.now();
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failure: Error | undefined;
    const tls = opts.tls === true ? {} : opts.tls;
    const sock = tls ? tlsConnect({ ...tls, host: opts.host, port: opts.port }) : connect({ host: opts.host, port: opts.port });
    sock.setTimeout(opts.timeoutMs ?? 30_000, () => sock.destroy(new Error(`no answer within ${opts.timeoutMs ?? 30_000} ms`)));
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const res = parseResponse(Buffer.concat(chunks));
      if (res) resolve({ ...res, ms: Date.now() - started });
      else reject(failure ?? new Error(size ? `no HTTP status line in ${size} bytes` : 'connection closed without an answer'));
    };
    sock.on('data', (c: Buffer) => {
      if (size < maxBytes) chunks.push(c);
      size += c.length;
      // a complete answer ends the exchange even if the server keeps the connection open (a client header may
      // have asked for keep-alive)
      if (size >= maxBytes || complete(Buffer.concat(chunks), opts.headersOnly === true)) {
        finish();
        sock.destroy();
      }
    });
    sock.on('error', (err) => (failure = err));
    sock.on('close', finish);
    sock.on(tls ? 'secureConnect' : 'connect', () => {
      sock.write(opts.head);
      // a server that answered early may close while we still write; that error is kept and its answer read
      if (opts.body?.length) sock.write(opts.body);
    });
  });
}

function parseResponse(buf: Buffer): Omit<RawResponse, 'ms'> | undefined {
  let rest = buf;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    const head = (end === -1 ? rest : rest.subarray(0, end)).toString('latin1');
    const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head);
    if (!m) return undefined;
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of head.split('\r\n').slice(1)) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const body = end === -1 ? Buffer.alloc(0) : rest.subarray(end + 4);
    if (status >= 100 && status < 200 && end !== -1) {
      rest = body;
      continue;
    }
    return { status, headers, body: /chunked/i.test(headers['transfer-encoding'] ?? '') ? dechunk(body) : body };
  }
}

/** Whether `buf` holds a whole answer (final status, headers and the body its framing announces). */
function complete(buf: Buffer, headersOnly: boolean): boolean {
  let rest = buf;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) return false;
    const head = rest.subarray(0, end).toString('latin1');
    const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head)?.[1] ?? 0);
    const body = rest.subarray(end + 4);
    if (status >= 100 && status < 200) {
      rest = body;
      continue;
    }
    if (!status) return false;
    if (headersOnly || status === 204 || status === 304) return true;
    if (/^transfer-encoding:.*chunked/im.test(head))
      return body.indexOf('0\r\n\r\n') !== -1 && (body.indexOf('0\r\n\r\n') === 0 || body.indexOf('\r\n0\r\n\r\n') !== -1);
    const length = /^content-length:\s*(\d+)/im.exec(head);
    return length ? body.length >= Number(length[1]) : false;
  }
}

/** Decodes a chunked body as far as it goes (a cut one yields what arrived). */
function dechunk(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    const eol = buf.indexOf('\r\n', at);
    if (eol === -1) break;
    const n = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(n) || n <= 0) break;
    out.push(buf.subarray(eol + 2, eol + 2 + n));
    at = eol + 2 + n + 2;
  }
  return Buffer.concat(out);
}
