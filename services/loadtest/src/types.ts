import type { SlaVerdict } from './sla.js';
import type { ActionRow, SeriesPoint } from './stats.js';

export type FaultKind = 'pg-primary' | 'redis-master' | 'api' | 'nginx' | `service:${string}`;

export interface FaultSpec {
  kind: FaultKind;
  atS: number;
}

export interface FaultResult extends FaultSpec {
  firedAtS: number;
  ok: boolean;
  detail: string;
}

export interface ReplicaPoint {
  t: number;
  counts: Record<string, number>;
}

export interface Summary {
  tool: 'forum-loadtest';
  startedAt: string;
  finishedAt: string;
  options: Record<string, unknown>;
  seed: { accounts: number; threads: number; seconds: number; notes: string[] };
  durationS: number;
  /** Set when the run was stopped before its duration (Ctrl-C): the figures cover only the part that ran. */
  interrupted?: { atS: number; reason: string } | null;
  totals: { requests: number; failures: number; failurePct: number; opsPerS: number; peakOpsPerS: number; peakUsers: number };
  read: { p50Ms: number | null; p95Ms: number | null; p99Ms: number | null };
  /** after the ramp and one think time (null when the run never got there) */
  steady: { fromS: number; requests: number; failures: number; opsPerS: number; readP95Ms: number | null; writeP95Ms: number | null } | null;
  write: { p50Ms: number | null; p95Ms: number | null; p99Ms: number | null };
  actions: ActionRow[];
  errors: Record<string, number>;
  series: SeriesPoint[];
  replicas: { available: boolean; note?: string; services: string[]; points: ReplicaPoint[] };
  faults: FaultResult[];
  loadgen: {
    cpuUserS: number;
    cpuSystemS: number;
    cpuPctOfOneCore: number;
    peakCpuPct: number;
    peakInflight: number;
    eventLoopDelayP99Ms: number;
    rssMiB: number;
  };
  sla: SlaVerdict;
}
