import dgram from 'node:dgram';
import type { Logger } from 'pino';
import type { Source } from './ecs.js';

/** One BSD-syslog datagram as NGINX's `access_log syslog:` sends it: `<PRI>Mmm dd hh:mm:ss HOST TAG: MSG`. */
export interface SyslogMessage {
  host: string;
  tag: string;
  msg: string;
}

const SYSLOG_RE = /^<\d{1,3}>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+) ([^:\s]+): ?([\s\S]*)$/;

export function parseSyslog(datagram: string): SyslogMessage | undefined {
  const m = SYSLOG_RE.exec(datagram.replace(/\n+$/, ''));
  return m ? { host: m[1], tag: m[2], msg: m[3] } : undefined;
}

export interface SyslogOptions {
  port: number;
  /** the swarm service the lines belong to (NGINX_SERVICES' first entry) */
  service: string;
  node: () => string;
  /** HOST of a message -> its container (NGINX's hostname is the first 12 hex digits of its container id in Swarm) */
  identify: (host: string) => Promise<{ id: string; name: string } | undefined>;
  onLine: (line: string, ts: string, src: Source) => void;
  logger: Logger;
}

/**
 * Receives NGINX's access lines over UDP (configs/nginx/nginx.conf: `access_log syslog:` to this task), so a
 * request's line goes NGINX -> here in one datagram instead of NGINX's stdout -> dockerd's json-file -> the Docker
 * API -> here. Lines of a host not identified yet wait (in order) for its container lookup, so its counters keep one
 * key, the container id, as the Docker-log path uses. UDP can drop a datagram when this socket's buffer is full (4 MiB:
 * ~10,000 lines, seconds of this process being starved at peak load); the kernel counts such drops in /proc/net/udp.
 */
export class SyslogReceiver {
  private socket?: dgram.Socket;
  private readonly sources = new Map<string, Source>();
  private readonly waiting = new Map<string, Array<{ line: string; ts: string }>>();
  readonly stats = { received: 0, unparsed: 0 };

  constructor(private readonly o: SyslogOptions) {}

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
      s.on('message', (buf) => this.receive(buf.toString('utf8')));
      s.on('error', (err) => {
        this.o.logger.error({ err: err.message }, 'syslog receiver error');
        reject(err);
      });
      s.bind(this.o.port, () => {
        this.o.logger.info({ port: this.o.port }, 'syslog receiver listening (NGINX access lines)');
        resolve();
      });
      this.socket = s;
    });
  }

  get port(): number {
    return this.socket?.address().port ?? this.o.port;
  }

  stop(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  receive(datagram: string): void {
    this.stats.received += 1;
    const m = parseSyslog(datagram);
    if (!m) {
      this.stats.unparsed += 1;
      return;
    }
    const ts = new Date().toISOString();
    const src = this.sources.get(m.host);
    if (src) return this.deliver(m.msg, ts, src);
    const queue = this.waiting.get(m.host);
    if (queue) {
      if (queue.length < 10_000) queue.push({ line: m.msg, ts });
      return;
    }
    this.waiting.set(m.host, [{ line: m.msg, ts }]);
    void this.o
      .identify(m.host)
      .catch(() => undefined)
      .then((c) => {
        // a host this node's Docker does not know (an NGINX on another node) keeps its hostname as its identity
        const found: Source = { containerId: c?.id ?? m.host, containerName: c?.name ?? m.host, service: this.o.service, node: this.o.node() };
        this.sources.set(m.host, found);
        const lines = this.waiting.get(m.host) ?? [];
        this.waiting.delete(m.host);
        for (const l of lines) this.deliver(l.line, l.ts, found);
      });
  }

  private deliver(line: string, ts: string, src: Source): void {
    try {
      this.o.onLine(line, ts, src);
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'syslog line handler failed');
    }
  }
}
