import { promises as dns } from 'node:dns';
import { readFile } from 'node:fs/promises';
import type { Logger } from '@forum/shared';
import { writeFileAtomic } from './files.js';

export interface UpstreamOptions {
  /** DNS name whose A records are the servers (a dnsrr Swarm service name: one record per running task) */
  name: string;
  port: number;
  /** the file NGINX includes inside its `upstream` block */
  file: string;
  intervalMs: number;
  logger: Logger;
  /** Asks NGINX to re-read its configuration (SIGHUP to the master). */
  reload: () => void;
  /** injectable for tests; default: the system resolver (Docker's 127.0.0.11 in a task) */
  resolve?: (name: string) => Promise<string[]>;
  /** the file's content for these addresses; default: renderUpstream */
  render?: (addresses: string[], port: number) => string;
}

/** Where NGINX writes access lines while the log-shipper has no address: its stdout (Docker's log, which the
 *  log-shipper follows too). */
export const ACCESS_LOG_STDOUT = 'access_log /dev/stdout json;';

/**
 * NGINX's access log directive: UDP syslog to the first (sorted) address, so every NGINX sends to the same
 * log-shipper task and its response counters stay in one place; stdout when there is none.
 */
export function renderAccessLog(addresses: string[], port: number): string {
  const first = [...new Set(addresses)].sort()[0];
  const line = first ? `access_log syslog:server=${first}:${port},tag=nginx,severity=info json;` : ACCESS_LOG_STDOUT;
  return `# written by nginx-agent from DNS; do not edit\n${line}\n`;
}

/** What NGINX gets when the name has no address: a server that is never tried, so requests fail fast (502 -> 503). */
export const NO_SERVER = 'server 127.0.0.1:1 down;';

/** The upstream file for these addresses (sorted, so the same set always gives the same file). */
export function renderUpstream(addresses: string[], port: number): string {
  const lines = [...new Set(addresses)].sort().map((a) => `server ${a}:${port} max_fails=1 fail_timeout=5s;`);
  return `# written by nginx-agent from DNS; do not edit\n${(lines.length ? lines : [NO_SERVER]).join('\n')}\n`;
}

const NO_ADDRESS = new Set(['ENOTFOUND', 'ENODATA']);

/** getaddrinfo, as NGINX and every other client in the task would resolve the name (IPv4: the overlay networks). */
async function systemResolve(name: string): Promise<string[]> {
  return (await dns.lookup(name, { all: true, family: 4 })).map((a) => a.address);
}

/**
 * Keeps an NGINX `upstream` block's servers equal to the A records of a Swarm service, so NGINX can keep idle
 * connections to the api tasks open (`keepalive` needs an upstream block; a `proxy_pass` with a variable opens a new
 * TCP connection for every request). Open-source NGINX 1.26 resolves upstream servers only when it loads its
 * configuration, so this polls DNS and reloads NGINX (gracefully) when the set of tasks changes.
 * A name with no address (every task gone) yields a server that is never tried; any other DNS failure keeps the
 * servers as they are.
 */
export class UpstreamWatcher {
  private timer: NodeJS.Timeout | undefined;
  private written: string | undefined;
  private stopped = false;
  readonly stats = { reloads: 0, servers: 0, errors: 0 };

  constructor(private readonly o: UpstreamOptions) {}

  private async lookup(): Promise<string[] | undefined> {
    try {
      return await (this.o.resolve ?? systemResolve)(this.o.name);
    } catch (err) {
      if (NO_ADDRESS.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      this.stats.errors++;
      this.o.logger.warn({ err: (err as Error).message, name: this.o.name }, 'upstream: DNS lookup failed; servers unchanged');
      return undefined;
    }
  }

  /** One round: resolve, write the file if it changed; true when it changed. */
  async sync(): Promise<boolean> {
    const addresses = await this.lookup();
    if (!addresses) return false;
    const content = (this.o.render ?? renderUpstream)(addresses, this.o.port);
    if (this.written === undefined) this.written = await readFile(this.o.file, 'utf8').catch(() => '');
    if (content === this.written) return false;
    await writeFileAtomic(this.o.file, content);
    this.written = content;
    this.stats.servers = new Set(addresses).size;
    this.o.logger.info({ name: this.o.name, file: this.o.file, servers: [...new Set(addresses)].sort() }, 'upstream: servers changed');
    return true;
  }

  /** Polls until stop(); reloads NGINX after every change. */
  run(): void {
    const tick = async () => {
      if (this.stopped) return;
      if (await this.sync().catch(() => false)) {
        this.stats.reloads++;
        this.o.reload();
      }
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.o.intervalMs);
    };
    this.timer = setTimeout(() => void tick(), this.o.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
