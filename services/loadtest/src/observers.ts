import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { DockerProbe } from './docker.js';
import type { ReplicaPoint, Summary } from './types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The load generator's own cost: CPU per chart interval (and its peak), and the event loop's delay. */
export class LoadgenMeter {
  private readonly eld = monitorEventLoopDelay({ resolution: 10 });
  private readonly wall0: number;
  private readonly cpu0: NodeJS.CpuUsage;
  private lastCpu: NodeJS.CpuUsage;
  private lastCpuWall: number;
  private peakCpu = 0;

  constructor() {
    this.eld.enable();
    this.wall0 = performance.now();
    this.cpu0 = process.cpuUsage();
    this.lastCpu = this.cpu0;
    this.lastCpuWall = this.wall0;
  }

  /** CPU used since the previous call, in % of one core. */
  cpuPct(): number {
    const now = performance.now();
    const c = process.cpuUsage(this.lastCpu);
    const pct = ((c.user + c.system) / 1000 / Math.max(1, now - this.lastCpuWall)) * 100;
    this.lastCpu = process.cpuUsage();
    this.lastCpuWall = now;
    if (pct > this.peakCpu) this.peakCpu = pct;
    return pct;
  }

  /** Stops measuring; the whole run's figures (`endNow`: when the load ended, on performance.now()'s clock). */
  finish(endNow: number, peakInflight: number): Summary['loadgen'] {
    this.eld.disable();
    const cpu = process.cpuUsage(this.cpu0);
    return {
      cpuUserS: cpu.user / 1e6,
      cpuSystemS: cpu.system / 1e6,
      cpuPctOfOneCore: ((cpu.user + cpu.system) / 1e3 / Math.max(1, endNow - this.wall0)) * 100,
      peakCpuPct: this.peakCpu,
      peakInflight,
      eventLoopDelayP99Ms: this.eld.percentile(99) / 1e6,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    };
  }
}

/** Replica counts of the stack's services through the run, one Docker query at a time (a slow answer skips a sample). */
export class ReplicaSampler {
  readonly points: ReplicaPoint[] = [];
  note: string | undefined;
  private busy = false;
  private last = -Infinity;

  constructor(
    private readonly probe: DockerProbe | null,
    private readonly everyS: number,
    private readonly elapsedS: () => number,
  ) {
    this.note = probe ? undefined : 'disabled (--no-docker)';
  }

  /** A sample when `everyS` has passed since the previous one. */
  sampleIfDue(el: number): void {
    if (this.probe && el - this.last >= this.everyS) {
      this.last = el;
      this.sample();
    }
  }

  /** The closing sample, after the one in flight (5 s at most in all). */
  async settle(): Promise<void> {
    if (!this.probe) return;
    const deadline = performance.now() + 5000;
    while (this.busy && performance.now() < deadline) await sleep(50);
    this.sample();
    while (this.busy && performance.now() < deadline) await sleep(50);
  }

  private sample(): void {
    if (!this.probe || this.busy) return;
    this.busy = true;
    this.probe
      .replicas(this.elapsedS())
      .then((p) => this.points.push(p))
      .catch((err: Error) => {
        this.note = `Docker API: ${err.message}`;
      })
      .finally(() => {
        this.busy = false;
      });
  }
}
