import { StringDecoder } from 'node:string_decoder';
import { Writable } from 'node:stream';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { Source } from './ecs.js';

const SERVICE_LABEL = 'com.docker.swarm.service.name';
const STACK_LABEL = 'com.docker.stack.namespace';

export type LineHandler = (line: string, ts: string, src: Source, stream: 'stdout' | 'stderr') => void;

/** RFC3339Nano with the fraction padded to 9 digits, so timestamps compare as strings. */
export function normTs(ts: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return ts;
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}${m[3]}`;
}

/**
 * A writable end for one output stream (stdout or stderr) of a container: decodes UTF-8 across chunk boundaries
 * and hands over complete, non-empty lines (the last partial line waits for its newline).
 */
export function lineSink(stream: 'stdout' | 'stderr', onLine: (line: string, stream: 'stdout' | 'stderr') => void): Writable {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const parts = (partial + decoder.write(chunk)).split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) if (p.trim() !== '') onLine(p.replace(/\r$/, ''), stream);
      cb();
    },
  });
}

/**
 * Follows the logs of every running container of the selected swarm services on this node (Docker API,
 * timestamps on), re-scanning every `scanMs`. Reconnects resume from the last timestamp seen.
 */
export class LogFollower {
  // lastTs per stream: Docker timestamps stdout and stderr in separate copiers, so the merged log is ordered per stream,
  // not across streams; one shared high-water mark dropped stderr lines that arrived after a later stdout line.
  private followed = new Map<string, { lastTs: string; byStream: Record<string, string>; stream?: NodeJS.ReadableStream; busy?: boolean }>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly docker: Docker,
    private readonly services: string[],
    private readonly node: () => string,
    private readonly onLine: LineHandler,
    private readonly logger: Logger,
    private readonly opts: { scanMs?: number; lookbackSeconds?: number; stack?: string } = {},
  ) {}

  get containers(): string[] {
    return [...this.followed.keys()];
  }

  async start(): Promise<void> {
    await this.scan();
    this.timer = setInterval(() => void this.scan(), this.opts.scanMs ?? 5000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const f of this.followed.values()) (f.stream as unknown as { destroy?: () => void })?.destroy?.();
  }

  async scan(): Promise<void> {
    try {
      const list = await this.docker.listContainers({ filters: { status: ['running'] } });
      for (const c of list) {
        const labels = c.Labels ?? {};
        const full = labels[SERVICE_LABEL];
        if (!full) continue;
        const ns = labels[STACK_LABEL];
        if (this.opts.stack && ns !== this.opts.stack) continue; // only our stack's containers
        const short = ns && full.startsWith(`${ns}_`) ? full.slice(ns.length + 1) : full;
        if (!this.services.includes(short)) continue;
        const f = this.followed.get(c.Id);
        if (f?.busy) continue;
        void this.follow(c.Id, (c.Names[0] ?? c.Id).replace(/^\//, ''), short, f?.lastTs);
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'docker container scan failed');
    }
  }

  private async follow(id: string, name: string, service: string, lastTs?: string): Promise<void> {
    const entry = this.followed.get(id) ?? { lastTs: lastTs ?? '', byStream: {} };
    entry.busy = true; // set synchronously: a scan during the async attach must not attach a second stream
    this.followed.set(id, entry);
    try {
      const container = this.docker.getContainer(id);
      const info = await container.inspect();
      const sinceSec = entry.lastTs ? Math.floor(new Date(entry.lastTs).getTime() / 1000) : Math.floor(Date.now() / 1000) - (this.opts.lookbackSeconds ?? 60);
      const stream = (await container.logs({
        follow: true,
        stdout: true,
        stderr: true,
        timestamps: true,
        since: sinceSec,
      })) as unknown as NodeJS.ReadableStream;
      entry.stream = stream;
      const src: Source = { containerId: id, containerName: name, service, node: this.node() };
      const onRaw = (raw: string, streamName: 'stdout' | 'stderr') => {
        const sp = raw.indexOf(' ');
        const ts = normTs(sp > 0 ? raw.slice(0, sp) : new Date().toISOString());
        const line = sp > 0 ? raw.slice(sp + 1) : raw;
        // a stream's own mark only: Docker stamps a line when its stream's copier reads it, so the other stream's
        // lines may carry later times and come first in the log; judged by them, this stream's lines were dropped
        const seen = entry.byStream[streamName];
        if (seen && ts <= seen) return; // already seen before a reconnect
        entry.byStream[streamName] = ts;
        // resume point: the older of the two streams' marks, so a reconnect misses neither
        entry.lastTs = Object.values(entry.byStream).reduce((a, b) => (a < b ? a : b));
        try {
          this.onLine(line, ts, src, streamName);
        } catch (err) {
          this.logger.warn({ err: (err as Error).message }, 'line handler failed');
        }
      };
      // a TTY container's log is one raw stream; otherwise Docker multiplexes stdout and stderr in 8-byte-header frames
      if (info.Config?.Tty) stream.pipe(lineSink('stdout', onRaw));
      else this.docker.modem.demuxStream(stream, lineSink('stdout', onRaw), lineSink('stderr', onRaw));
      const end = () => {
        entry.stream = undefined;
        entry.busy = false;
        if (this.stopped) return;
        // the container is gone or the stream broke: the next scan resumes it if it still runs
        void this.docker
          .getContainer(id)
          .inspect()
          .then((i) => {
            if (!i.State?.Running) this.followed.delete(id);
          })
          .catch(() => this.followed.delete(id));
      };
      stream.on('end', end);
      stream.on('close', end);
      stream.on('error', end);
    } catch (err) {
      entry.stream = undefined;
      entry.busy = false;
      this.logger.warn({ container: name, err: (err as Error).message }, 'cannot follow container logs');
    }
  }
}
