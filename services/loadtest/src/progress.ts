import type { Client } from './http.js';
import type { LoadgenMeter } from './observers.js';
import type { Recorder } from './stats.js';
import type { VirtualUsers } from './users.js';

/** What the run writes as it goes: a chart point every `intervalS`, a progress line every `progressS`. */
export class Progress {
  private lastInterval: number;
  private lastProgress: number;

  constructor(
    private readonly o: { users: number; intervalS: number; progressS: number },
    private readonly parts: { rec: Recorder; users: VirtualUsers; client: Client; meter: LoadgenMeter },
    private readonly say: (line: string) => void,
    t0: number,
  ) {
    this.lastInterval = t0;
    this.lastProgress = t0;
  }

  /** Closes the chart interval when `intervalS` has passed (`now` on performance.now()'s clock, `el` the run's seconds). */
  closeIntervalIfDue(now: number, el: number): void {
    if (now - this.lastInterval >= this.o.intervalS * 1000) this.closeInterval(now, el);
  }

  /** Closes the last, partial chart interval unless it is too short to mean anything. */
  closeLastInterval(endNow: number, el: number): void {
    if (endNow - this.lastInterval > 200) this.closeInterval(endNow, el);
  }

  /** The live line: users, ops/s, errors and read p95 since the previous line, requests in flight, the tool's CPU. */
  printIfDue(now: number, el: number): void {
    if (now - this.lastProgress < this.o.progressS * 1000) return;
    const { rec, users, client } = this.parts;
    const w = rec.takeWindow();
    const secs = (now - this.lastProgress) / 1000;
    this.lastProgress = now;
    const last = rec.series.at(-1);
    this.say(
      `t=${el.toFixed(0).padStart(4)}s users ${String(users.spawned).padStart(6)}/${this.o.users} ops/s ${(w.ops / secs).toFixed(1).padStart(7)} ` +
        `errors ${String(w.errors).padStart(4)} (${w.ops ? ((100 * w.errors) / w.ops).toFixed(2) : '0.00'}%) ` +
        `p95 ${w.p95 === null ? '-' : w.p95.toFixed(1)}ms inflight ${client.inflight} cpu ${(last?.cpuPct ?? 0).toFixed(1)}%`,
    );
  }

  private closeInterval(now: number, el: number): void {
    const { rec, users, client, meter } = this.parts;
    rec.closeInterval(el, (now - this.lastInterval) / 1000, users.spawned, client.inflight, meter.cpuPct());
    this.lastInterval = now;
  }
}
