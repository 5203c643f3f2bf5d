// SLA verdict against Table 1 of docs/REQUIREMENTS.md §5 (the objectives a client can observe), plus the capacity
// goal of the benchmark (BENCHMARKS.md, "Load test"). Pure: takes the run's summary figures, returns rows.

export interface SlaInput {
  readP95Ms: number | null;
  writeP95Ms: number | null;
  requests: number;
  failures: number;
  durationS: number;
  peakOpsPerS: number;
  peakUsers: number;
  /** Lowest running replica count seen while under load (null when Docker was not sampled). */
  minNginxReplicas: number | null;
  minApiReplicas: number | null;
  /** After the ramp and one think time; the capacity goal is judged on it when present (else the whole run). */
  steady?: { fromS: number; readP95Ms: number | null; writeP95Ms: number | null; requests: number; failures: number } | null;
}

export interface SlaRow {
  objective: string;
  limit: string;
  measured: string;
  pass: boolean | null; // null = not measurable in this run
}

export interface SlaVerdict {
  pass: boolean;
  rows: SlaRow[];
  capacity: { pass: boolean; rows: SlaRow[] };
}

const fmtMs = (v: number | null): string => (v === null ? 'n/a' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`);

export function evaluateSla(i: SlaInput): SlaVerdict {
  const errPct = i.requests ? (100 * i.failures) / i.requests : 0;
  const errPerS = i.durationS > 0 ? i.failures / i.durationS : 0;
  const row = (objective: string, limit: string, measured: string, pass: boolean | null): SlaRow => ({
    objective,
    limit,
    measured,
    pass,
  });
  const rows: SlaRow[] = [
    row('whole service: GET response time (p95)', '< 40 s', fmtMs(i.readP95Ms), i.readP95Ms === null ? null : i.readP95Ms < 40_000),
    row('whole service: POST/PATCH response time (p95)', '< 50 s', fmtMs(i.writeP95Ms), i.writeP95Ms === null ? null : i.writeP95Ms < 50_000),
    row('whole service: error rate', '< 10 %', `${errPct.toFixed(3)} %`, i.requests ? errPct < 10 : null),
    row('forum API: errors', '< 7.5 %', `${errPct.toFixed(3)} %`, i.requests ? errPct < 7.5 : null),
    row('NGINX: errors (mean over the run)', '< 5 errors/s', `${errPerS.toFixed(2)} errors/s`, i.requests ? errPerS < 5 : null),
  ];
  if (i.minNginxReplicas && i.minNginxReplicas > 0) {
    const perInstance = i.peakOpsPerS / i.minNginxReplicas;
    rows.push(row('NGINX: requests per instance (peak interval)', '< 100 req/s', `${perInstance.toFixed(1)} req/s`, perInstance < 100));
    const clients = i.peakUsers / i.minNginxReplicas;
    rows.push(row('NGINX: clients per instance', '< 1024', clients.toFixed(0), clients < 1024));
  } else {
    rows.push(row('NGINX: requests / clients per instance', '< 100 req/s, < 1024', 'no replica data', null));
  }
  if (i.minApiReplicas && i.minApiReplicas > 0) {
    const clients = i.peakUsers / i.minApiReplicas;
    rows.push(row('forum API: clients per instance', '< 1500', clients.toFixed(0), clients < 1500));
  } else {
    rows.push(row('forum API: clients per instance', '< 1500', 'no replica data', null));
  }
  const c = i.steady ?? { readP95Ms: i.readP95Ms, writeP95Ms: i.writeP95Ms, requests: i.requests, failures: i.failures };
  const when = i.steady ? ` (steady state, from t=${i.steady.fromS.toFixed(0)} s)` : ' (whole run: no steady state reached)';
  const capErrPct = c.requests ? (100 * c.failures) / c.requests : 0;
  const capacityRows: SlaRow[] = [
    row(`read p95${when}`, '< 100 ms', fmtMs(c.readP95Ms), c.readP95Ms === null ? null : c.readP95Ms < 100),
    row(`write p95${when}`, '< 300 ms', fmtMs(c.writeP95Ms), c.writeP95Ms === null ? null : c.writeP95Ms < 300),
    row(`errors${when}`, '< 0.1 %', `${capErrPct.toFixed(3)} %`, c.requests ? capErrPct < 0.1 : null),
  ];
  // An objective that could not be measured does not fail the verdict, but nothing measured means no pass.
  const decided = (rs: SlaRow[]): boolean => rs.some((r) => r.pass !== null) && rs.every((r) => r.pass !== false);
  return { pass: decided(rows), rows, capacity: { pass: decided(capacityRows), rows: capacityRows } };
}
