import type { SeedResult } from './seed.js';
import { evaluateSla } from './sla.js';
import type { Recorder } from './stats.js';
import type { FaultResult, ReplicaPoint, Summary } from './types.js';

/** Everything a finished run hands to its summary. */
export interface RunRecord {
  /** The options as shown in the report (no password, no callbacks). */
  shownOptions: Record<string, unknown>;
  startedAt: Date;
  accounts: number;
  seeded: SeedResult;
  /** Login-only operations that found no logged-in session free. */
  skipped: number;
  measuredS: number;
  interrupted: Summary['interrupted'];
  peakUsers: number;
  rec: Recorder;
  replicas: { points: ReplicaPoint[]; note: string | undefined };
  faults: FaultResult[];
  loadgen: Summary['loadgen'];
}

const latencies = (h: Recorder['read']) => ({ p50Ms: h.percentile(50), p95Ms: h.percentile(95), p99Ms: h.percentile(99) });

/** After the ramp and one think time; null when the run never got there. */
function steadyPart(rec: Recorder, measuredS: number): Summary['steady'] {
  if (!rec.steady.requests) return null;
  return {
    fromS: rec.steady.fromS,
    requests: rec.steady.requests,
    failures: rec.steady.failures,
    opsPerS: rec.steady.requests / Math.max(1e-9, measuredS - rec.steady.fromS),
    readP95Ms: rec.steady.read.percentile(95),
    writeP95Ms: rec.steady.write.percentile(95),
  };
}

/** The fewest running replicas of `svc` seen in any sample (null when never seen). */
function fewestReplicas(points: ReplicaPoint[], svc: string): number | null {
  const counts = points.filter((p) => svc in p.counts).map((p) => p.counts[svc]);
  return counts.length ? Math.min(...counts) : null;
}

/** The report of a run: totals, latencies, Table 4, the chart series, replicas, faults, the tool's own cost and the SLA verdict. */
export function summarize(r: RunRecord): Summary {
  const { rec, measuredS, peakUsers } = r;
  const table = rec.table();
  const requests = table.reduce((s, row) => s + row.count, 0);
  const failures = table.reduce((s, row) => s + row.failures, 0);
  const peakOps = Math.max(0, ...rec.series.map((p) => p.opsPerS));
  const read = latencies(rec.read);
  const write = latencies(rec.write);
  const steady = steadyPart(rec, measuredS);
  const notes = [...r.seeded.notes];
  if (r.skipped) notes.push(`${r.skipped} login-only operations skipped: no logged-in session free`);
  const points = r.replicas.points;
  return {
    tool: 'forum-loadtest',
    startedAt: r.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options: r.shownOptions,
    seed: { accounts: r.accounts, threads: r.seeded.threadIds.length, seconds: r.seeded.seconds, notes },
    durationS: measuredS,
    interrupted: r.interrupted,
    totals: {
      requests,
      failures,
      failurePct: requests ? (100 * failures) / requests : 0,
      opsPerS: requests / Math.max(measuredS, 1e-9),
      peakOpsPerS: peakOps,
      peakUsers,
    },
    read,
    write,
    steady,
    actions: table,
    errors: Object.fromEntries(rec.errorKinds),
    series: rec.series,
    replicas: {
      available: points.length > 0,
      note: r.replicas.note,
      services: [...new Set(points.flatMap((p) => Object.keys(p.counts)))].sort(),
      points,
    },
    faults: r.faults,
    loadgen: r.loadgen,
    sla: evaluateSla({
      readP95Ms: read.p95Ms,
      writeP95Ms: write.p95Ms,
      requests,
      failures,
      durationS: measuredS,
      peakOpsPerS: peakOps,
      peakUsers,
      minNginxReplicas: fewestReplicas(points, 'nginx'),
      minApiReplicas: fewestReplicas(points, 'api'),
      steady,
    }),
  };
}
