import { createSecureContext } from 'node:tls';
import { Pool } from 'undici';

export interface HttpResult {
  status: number; // 0 = no HTTP response (network error / timeout)
  ms: number;
  body?: unknown;
  error?: string;
}

/** A cookie jar for one simulated browser: Misago's `sessionid` and `csrftoken`. */
export class Session {
  readonly cookies = new Map<string, string>();
  constructor(readonly account: number) {}

  absorb(setCookie: string | string[] | undefined): void {
    if (!setCookie) return;
    for (const c of Array.isArray(setCookie) ? setCookie : [setCookie]) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '' || value === '""';
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string | undefined {
    if (!this.cookies.size) return undefined;
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get csrf(): string | undefined {
    return this.cookies.get('csrftoken');
  }
}

/**
 * One keep-alive connection pool to the edge for every simulated user: requests queue on a bounded
 * number of sockets instead of one socket per user (a browser keeps ~6 per host; 30,000 users do not
 * need 30,000 sockets to produce one request every 30 s each).
 */
export class Client {
  readonly pool: Pool;
  inflight = 0;
  peakInflight = 0;

  /**
   * `ca`: the CAs (PEM) an https origin's certificate may chain to, instead of Node's default ones (src/tls.ts
   * trustWith: those and the stack's local CA). HTTP/1.1 over TLS (undici offers no h2 unless asked), keep-alive.
   */
  constructor(
    readonly origin: string,
    connections: number,
    private readonly timeoutMs: number,
    ca?: string[],
  ) {
    this.pool = new Pool(origin, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connectTimeout: Math.min(timeoutMs, 10_000),
      // One SecureContext for the pool: with `ca` alone, every new connection parses the whole bundle (Node's ~145
      // roots plus the stack's CA, ~50 ms of CPU here), so opening the pool's sockets under load blocked the event
      // loop for seconds, and the delayed users then moved in step, one burst per think time (BENCHMARKS.md).
      ...(ca ? { connect: { secureContext: createSecureContext({ ca }) } } : {}),
    });
  }

  async request(method: string, path: string, session: Session | null, body?: unknown, parse = false): Promise<HttpResult> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'forum-loadtest/1' };
    const cookie = session?.header();
    if (cookie) headers.cookie = cookie;
    if (method !== 'GET') {
      if (session?.csrf) headers['x-csrftoken'] = session.csrf;
      // Django checks the Referer only over HTTPS; an Origin keeps strict CSRF setups happy too.
      headers.origin = this.origin;
    }
    let payload: string | undefined;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    this.inflight++;
    if (this.inflight > this.peakInflight) this.peakInflight = this.inflight;
    const t0 = performance.now();
    try {
      const res = await this.pool.request({ method: method as 'GET', path, headers, body: payload });
      session?.absorb(res.headers['set-cookie']);
      let parsed: unknown;
      if (parse || res.statusCode >= 400) {
        const text = await res.body.text();
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
      } else {
        await res.body.arrayBuffer();
      }
      return { status: res.statusCode, ms: performance.now() - t0, body: parsed };
    } catch (err) {
      const e = err as { code?: string; message?: string };
      return { status: 0, ms: performance.now() - t0, error: e.code ?? e.message ?? 'error' };
    } finally {
      this.inflight--;
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

export function errorKind(r: HttpResult): string {
  if (r.status === 0) return r.error ?? 'network error';
  const b = r.body as { code?: unknown; detail?: unknown } | undefined;
  const code = b && typeof b.code === 'string' ? ` ${b.code}` : '';
  return `HTTP ${r.status}${code}`;
}
