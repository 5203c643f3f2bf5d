import type { Logger } from 'pino';
import { int, type InfluxWriter, type Point } from '@forum/shared/influx';
import { instanceOf, type CollectContext, type Collector, type Target, type TargetKind } from './collectors/types.js';
import { collectNginx } from './collectors/nginx.js';
import { closeRedisConnections, collectRedis } from './collectors/redis.js';
import { collectHaproxy } from './collectors/haproxy.js';
import { closePgConnections, collectPgpool, collectPostgres } from './collectors/postgres.js';
import { collectPrometheus } from './collectors/prometheus.js';

export const COLLECTORS: Record<TargetKind, Collector> = {
  stub_status: collectNginx,
  redis: collectRedis,
  postgresql: collectPostgres,
  haproxy: collectHaproxy,
  pgpool: collectPgpool,
  prometheus: collectPrometheus,
};

export interface AgentOptions {
  host: () => string;
  writer: InfluxWriter;
  discover: () => Promise<Target[]>;
  /** Node-level sources (host /proc, docker): each returns points tagged only by the agent. */
  nodeSources?: Record<string, () => Promise<Point[]>>;
  /** A node source's own period (Telegraf's per-input `interval`), a multiple of intervalMs; unset = every gather. */
  sourceIntervalsMs?: Record<string, number>;
  ctx: CollectContext;
  intervalMs: number;
  logger: Logger;
}

export interface GatherResult {
  targets: number;
  failed: Array<{ target: string; error: string }>;
  points: number;
}

/** One gather cycle every interval; a slow or failing target never stops the others, nothing here throws. */
export class Agent {
  private timer?: NodeJS.Timeout;
  private running?: Promise<GatherResult>;
  private lastErrors = new Map<string, string>();
  private sourceLast = new Map<string, number>();
  gathers = 0;

  constructor(private readonly o: AgentOptions) {}

  start(): void {
    const tick = () => {
      if (!this.running) void this.gather();
    };
    tick();
    this.timer = setInterval(tick, this.o.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await closePgConnections();
    closeRedisConnections();
  }

  gather(): Promise<GatherResult> {
    this.running = this.doGather().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Whether a node source with its own period is due at this gather (half a gather's slack for timer drift). */
  private due(name: string, now: number): boolean {
    const every = this.o.sourceIntervalsMs?.[name];
    if (!every || every <= this.o.intervalMs) return true;
    const last = this.sourceLast.get(name);
    if (last !== undefined && now - last < every - this.o.intervalMs / 2) return false;
    this.sourceLast.set(name, now);
    return true;
  }

  private async doGather(): Promise<GatherResult> {
    const started = Date.now();
    const host = this.o.host();
    const now = new Date();
    let targets: Target[] = [];
    try {
      targets = await this.o.discover();
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'target discovery failed');
    }
    const failed: GatherResult['failed'] = [];
    const points: Point[] = [];
    const deadline = this.o.ctx.timeoutMs + 1000;
    const race = <T>(p: Promise<T>, ms: number): Promise<T> =>
      Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`timed out after ${ms} ms`)), ms).unref())]);
    const guard = <T>(p: Promise<T>) => race(p, deadline);
    // node sources (docker stats of every container, /proc) may take longer on a busy node: most of the interval
    const guardNode = <T>(p: Promise<T>) => race(p, Math.max(deadline, Math.floor(this.o.intervalMs * 0.9)));

    await Promise.all([
      ...targets.map(async (t) => {
        const instance = instanceOf(t);
        const t0 = Date.now();
        let up = 1;
        try {
          const ps = await guard(COLLECTORS[t.kind](t, this.o.ctx));
          for (const p of ps) points.push({ ...p, tags: { ...p.tags, host, instance, swarm_service: t.service }, timestamp: now });
          this.lastErrors.delete(instance);
        } catch (err) {
          up = 0;
          const msg = (err as Error).message ?? String(err);
          failed.push({ target: instance, error: msg });
          if (this.lastErrors.get(instance) !== msg) this.o.logger.warn({ target: instance, kind: t.kind, err: msg }, 'target scrape failed');
          this.lastErrors.set(instance, msg);
        }
        points.push({
          measurement: 'agent_target',
          tags: { host, instance, swarm_service: t.service, kind: t.kind },
          fields: { up: int(up), duration_ms: Date.now() - t0 },
          timestamp: now,
        });
      }),
      ...Object.entries(this.o.nodeSources ?? {}).map(async ([name, src]) => {
        if (!this.due(name, started)) return;
        try {
          const ps = await guardNode(src());
          for (const p of ps) points.push({ ...p, tags: { ...p.tags, host, instance: `node@${host}` }, timestamp: now });
        } catch (err) {
          failed.push({ target: name, error: (err as Error).message });
          this.o.logger.warn({ source: name, err: (err as Error).message }, 'node source failed');
        }
      }),
    ]);
    const s = this.o.writer.stats;
    points.push({
      measurement: 'internal_write',
      tags: { host, instance: `metrics-agent@${host}`, output: 'influxdb' },
      fields: { buffer_size: int(s.buffered), metrics_dropped: int(s.dropped), metrics_written: int(s.written), errors: int(s.writeErrors) },
      timestamp: now,
    });
    points.push({
      measurement: 'internal_gather',
      tags: { host, instance: `metrics-agent@${host}` },
      fields: { targets: int(targets.length), errors: int(failed.length), gather_time_ms: Date.now() - started },
      timestamp: now,
    });
    this.o.writer.add(points);
    void this.o.writer.flush();
    this.gathers += 1;
    return { targets: targets.length, failed, points: points.length };
  }
}
