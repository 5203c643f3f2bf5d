import { Histogram } from './histogram.js';
import { ACTIONS, WRITES, type Row } from './scenario.js';

export interface ActionRow {
  name: Row;
  count: number;
  failures: number;
  failurePct: number;
  medianMs: number | null;
  minMs: number | null;
  maxMs: number | null;
  avgMs: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface SeriesPoint {
  t: number; // seconds since the start of the measured run (end of the interval)
  users: number;
  opsPerS: number;
  errorsPerS: number;
  inflight: number;
  cpuPct: number;
  readP50: number | null;
  readP95: number | null;
  readP99: number | null;
  writeP50: number | null;
  writeP95: number | null;
  writeP99: number | null;
}

interface Bucket {
  read: Histogram;
  write: Histogram;
  ops: number;
  errors: number;
}

const newBucket = (): Bucket => ({ read: new Histogram(), write: new Histogram(), ops: 0, errors: 0 });

/** Collects every request's outcome: per-row histograms for Table 4, per-interval ones for charts. */
export class Recorder {
  readonly rows = new Map<Row, { hist: Histogram; failures: number }>();
  readonly errorKinds = new Map<string, number>();
  readonly read = new Histogram();
  readonly write = new Histogram();
  readonly series: SeriesPoint[] = [];
  /** The same after the ramp and one think time (every user started, logins done): the capacity goal is judged
   *  on this, since the ramp's burst of argon2 logins is not the steady load. `on` is set by the engine. */
  readonly steady = { on: false, fromS: 0, read: new Histogram(), write: new Histogram(), requests: 0, failures: 0 };
  private bucket = newBucket();
  private windowHist = { read: new Histogram(), ops: 0, errors: 0 };

  constructor() {
    for (const r of [...ACTIONS, 'login' as const]) this.rows.set(r, { hist: new Histogram(), failures: 0 });
  }

  record(row: Row, ms: number, ok: boolean, errorKind?: string): void {
    const r = this.rows.get(row)!;
    r.hist.record(ms);
    const isWrite = WRITES.has(row);
    (isWrite ? this.write : this.read).record(ms);
    if (this.steady.on) {
      (isWrite ? this.steady.write : this.steady.read).record(ms);
      this.steady.requests++;
      if (!ok) this.steady.failures++;
    }
    (isWrite ? this.bucket.write : this.bucket.read).record(ms);
    this.bucket.ops++;
    this.windowHist.ops++;
    if (!isWrite) this.windowHist.read.record(ms);
    if (!ok) {
      r.failures++;
      this.bucket.errors++;
      this.windowHist.errors++;
      const k = `${row}: ${errorKind ?? 'failed'}`;
      this.errorKinds.set(k, (this.errorKinds.get(k) ?? 0) + 1);
    }
  }

  /** Closes the current chart interval. */
  closeInterval(t: number, seconds: number, users: number, inflight: number, cpuPct: number): SeriesPoint {
    const b = this.bucket;
    this.bucket = newBucket();
    const p: SeriesPoint = {
      t: Math.round(t * 10) / 10,
      users,
      opsPerS: b.ops / seconds,
      errorsPerS: b.errors / seconds,
      inflight,
      cpuPct,
      readP50: b.read.percentile(50),
      readP95: b.read.percentile(95),
      readP99: b.read.percentile(99),
      writeP50: b.write.percentile(50),
      writeP95: b.write.percentile(95),
      writeP99: b.write.percentile(99),
    };
    this.series.push(p);
    return p;
  }

  /** Since the previous call: ops, errors and read p95 (for the live progress line). */
  takeWindow(): { ops: number; errors: number; p95: number | null } {
    const w = this.windowHist;
    this.windowHist = { read: new Histogram(), ops: 0, errors: 0 };
    return { ops: w.ops, errors: w.errors, p95: w.read.percentile(95) };
  }

  table(): ActionRow[] {
    return [...this.rows.entries()].map(([name, { hist, failures }]) => ({
      name,
      count: hist.count,
      failures,
      failurePct: hist.count ? (100 * failures) / hist.count : 0,
      medianMs: hist.percentile(50),
      minMs: hist.count ? hist.min : null,
      maxMs: hist.count ? hist.max : null,
      avgMs: hist.mean(),
      p95Ms: hist.percentile(95),
      p99Ms: hist.percentile(99),
    }));
  }
}
