// Helpers for the end-to-end suites that run against the deployed `forum` stack through the edge port.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cookieHeader, readBody, storeCookies, waitForWith } from '@forum/test-support';

const run = promisify(execFile);

export const STACK = process.env.STACK_NAME ?? 'forum';

/**
 * The values of the files in secrets/ (what the suites look for where no secret may show). Values shorter than 8
 * characters are skipped (none are generated so; a short one would match by chance), and so is the local default
 * Slack URL (http://127.0.0.1:9/...), which is not a secret.
 */
export function secretValues(): { name: string; value: string }[] {
  const dir = join(import.meta.dirname, '..', '..', 'secrets');
  return readdirSync(dir)
    .filter((f) => !/\.(md|sh|template)$/.test(f))
    .map((f) => ({ name: f, value: readFileSync(join(dir, f), 'utf8').trim() }))
    .filter((s) => s.value.length >= 8 && !s.value.startsWith('http://127.0.0.1'));
}
/**
 * The edge serves the site over HTTPS only (plain HTTP redirects). Node's fetch trusts the stack's local CA through
 * NODE_EXTRA_CA_CERTS (read at start-up; scripts/test.sh exports it with EDGE_TLS_CA and CURL_CA_BUNDLE). To run a
 * suite by hand: `export EDGE_TLS_CA=$PWD/secrets/tls_ca.pem NODE_EXTRA_CA_CERTS=$PWD/secrets/tls_ca.pem`.
 */
export const EDGE_URL = (process.env.EDGE_URL ?? `https://127.0.0.1:${process.env.EDGE_HTTPS_PORT ?? '443'}`).replace(/\/$/, '');
export const EDGE_HTTPS_PORT = process.env.EDGE_HTTPS_PORT ?? '443';
export const EDGE_HTTP_PORT = process.env.EDGE_HTTP_PORT ?? '80';

/** The port of an http(s) URL, its scheme's default when it names none. */
export function urlPort(url: string | URL): number {
  const u = new URL(url);
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
}

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** waitFor of @forum/test-support at the pace of a deployed stack (60 s, every 500 ms). */
export const until = waitForWith({ timeoutMs: 60_000, intervalMs: 500 });

/** A browser-like client: cookie jar + Django CSRF header on unsafe methods. */
export class Client {
  readonly cookies = new Map<string, string>();

  async request(method: string, path: string, body?: unknown, opts: { csrf?: boolean; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (this.cookies.size) headers.cookie = cookieHeader(this.cookies)!;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const unsafe = !['GET', 'HEAD', 'OPTIONS'].includes(method);
    if (unsafe && opts.csrf !== false && this.cookies.has('csrftoken')) headers['x-csrftoken'] = this.cookies.get('csrftoken')!;
    const res = await fetch(EDGE_URL + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
    });
    storeCookies(this.cookies, res.headers);
    const { text, json } = await readBody(res);
    return { status: res.status, headers: res.headers, text, json };
  }
  get(path: string) {
    return this.request('GET', path);
  }
  post(path: string, body?: unknown, opts?: { csrf?: boolean }) {
    return this.request('POST', path, body ?? {}, opts);
  }
  patch(path: string, body: unknown) {
    return this.request('PATCH', path, body);
  }
}

export async function stackContainers(): Promise<string[]> {
  const out = await docker('ps', '-q', '--filter', `label=com.docker.stack.namespace=${STACK}`);
  return out.split('\n').filter(Boolean);
}

export async function stackServices(): Promise<string[]> {
  const out = await docker('service', 'ls', '--filter', `label=com.docker.stack.namespace=${STACK}`, '--format', '{{.Name}}');
  return out.split('\n').filter(Boolean);
}

/** a running container of the stack's `service` on this engine (throws when there is none) */
export async function containerOf(service: string): Promise<string> {
  const id = (await docker('ps', '-q', '--filter', `label=com.docker.swarm.service.name=${STACK}_${service}`)).split('\n').find(Boolean);
  if (!id) throw new Error(`no running ${STACK}_${service} container`);
  return id;
}
