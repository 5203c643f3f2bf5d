import type { Summary } from './types.js';

const ms = (v: number | null): string => (v === null ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** Table 4 of the source report: per action median / min / max (+ p95, p99), % failures, count. */
export function table4(s: Summary): string {
  const head = ['action', 'requests', 'median ms', 'min ms', 'max ms', 'p95 ms', 'p99 ms', '% failures'];
  const rows = s.actions
    .filter((a) => a.count > 0 || a.name !== 'login')
    .map((a) => [a.name, String(a.count), ms(a.medianMs), ms(a.minMs), ms(a.maxMs), ms(a.p95Ms), ms(a.p99Ms), a.failurePct.toFixed(2)]);
  rows.push(['TOTAL', String(s.totals.requests), ms(s.read.p50Ms), '', '', '', '', s.totals.failurePct.toFixed(2)]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]): string => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function slaText(s: Summary): string {
  const mark = (p: boolean | null): string => (p === null ? 'n/a ' : p ? 'PASS' : 'FAIL');
  const out = [`SLA (SPEC §5 Table 1): ${s.sla.pass ? 'PASS' : 'FAIL'}`];
  for (const r of s.sla.rows) out.push(`  [${mark(r.pass)}] ${r.objective}: ${r.measured} (limit ${r.limit})`);
  out.push(`Capacity goal (read p95 < 100 ms, write p95 < 300 ms, errors < 0.1 %): ${s.sla.capacity.pass ? 'PASS' : 'FAIL'}`);
  for (const r of s.sla.capacity.rows) out.push(`  [${mark(r.pass)}] ${r.objective}: ${r.measured} (limit ${r.limit})`);
  return out.join('\n');
}

export function textReport(s: Summary): string {
  const lg = s.loadgen;
  const lines = [
    `forum load test ${s.startedAt} -> ${s.finishedAt}, target ${String(s.options.target)}`,
    `users ${String(s.options.users)} (peak ${s.totals.peakUsers}), ramp ${String(s.options.rampRate)}/s, think ${String(s.options.thinkTimeS)} s, duration ${s.durationS.toFixed(0)} s`,
    `requests ${s.totals.requests}, failures ${s.totals.failures} (${s.totals.failurePct.toFixed(3)} %), mean ${s.totals.opsPerS.toFixed(1)} ops/s, peak ${s.totals.peakOpsPerS.toFixed(1)} ops/s`,
    s.steady
      ? `steady state from t=${s.steady.fromS.toFixed(0)} s: ${s.steady.requests} requests, ${s.steady.failures} failures, ${s.steady.opsPerS.toFixed(1)} ops/s, read p95 ${ms(s.steady.readP95Ms)} ms, write p95 ${ms(s.steady.writeP95Ms)} ms`
      : 'steady state: not reached (the ramp and one think time outlast the run)',
    '',
    table4(s),
    '',
    slaText(s),
  ];
  if (s.interrupted)
    lines.unshift(
      `INTERRUPTED (${s.interrupted.reason}) at t=${s.interrupted.atS.toFixed(1)} s of ${String(s.options.durationS)} s: the figures cover only the part that ran`,
    );
  if (s.faults.length) {
    lines.push('', 'Faults:');
    for (const f of s.faults) lines.push(`  t=${f.firedAtS.toFixed(1)}s ${f.kind}: ${f.ok ? 'done' : 'FAILED'} - ${f.detail}`);
  }
  const errs = Object.entries(s.errors)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10);
  if (errs.length) {
    lines.push('', 'Top errors:');
    for (const [k, n] of errs) lines.push(`  ${n}x ${k}`);
  }
  lines.push(
    '',
    `load generator: CPU ${lg.cpuPctOfOneCore.toFixed(1)} % of one core on average (peak ${lg.peakCpuPct.toFixed(1)} %), ` +
      `user ${lg.cpuUserS.toFixed(1)} s + sys ${lg.cpuSystemS.toFixed(1)} s, event-loop delay p99 ${lg.eventLoopDelayP99Ms.toFixed(1)} ms, ` +
      `peak in-flight ${lg.peakInflight}, RSS ${lg.rssMiB.toFixed(0)} MiB`,
  );
  return lines.join('\n');
}

// ---------------------------------------------------------------- HTML with inline SVG charts

const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export interface ChartSeries {
  name: string;
  points: Array<[number, number | null]>;
  step?: boolean;
}

export interface Marker {
  t: number;
  label: string;
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** A self-contained SVG line chart; a gap (null) breaks the line; markers draw dashed verticals. */
export function lineChart(title: string, unit: string, series: ChartSeries[], markers: Marker[], xMax: number): string {
  const W = 900,
    H = 260,
    L = 60,
    R = 150,
    T = 28,
    B = 34;
  const pw = W - L - R,
    ph = H - T - B;
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map(([, y]) => y ?? 0))));
  const xM = xMax > 0 ? xMax : 1;
  const x = (t: number): number => L + (t / xM) * pw;
  const y = (v: number): number => T + ph - (v / yMax) * ph;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`,
    `<text x="${L}" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="#fafbfc" stroke="#ccd"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    const yy = y(v);
    parts.push(`<line x1="${L}" x2="${L + pw}" y1="${yy}" y2="${yy}" stroke="#e3e6ea"/>`);
    parts.push(`<text x="${L - 6}" y="${yy + 4}" font-size="11" text-anchor="end">${esc(+v.toPrecision(3))}</text>`);
  }
  for (let i = 0; i <= 6; i++) {
    const t = (xM * i) / 6;
    parts.push(`<text x="${x(t)}" y="${T + ph + 16}" font-size="11" text-anchor="middle">${Math.round(t)}s</text>`);
  }
  parts.push(`<text x="12" y="${T + ph / 2}" font-size="11" transform="rotate(-90 12 ${T + ph / 2})" text-anchor="middle">${esc(unit)}</text>`);
  series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    let d = '';
    let pen = false;
    let prevY = 0;
    for (const [t, v] of s.points) {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        continue;
      }
      if (!pen) d += `M${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      else if (s.step) d += `L${x(t).toFixed(1)},${y(prevY).toFixed(1)}L${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      else d += `L${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
      prevY = v;
    }
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    parts.push(`<rect x="${L + pw + 12}" y="${T + k * 16}" width="10" height="10" fill="${color}"/>`);
    parts.push(`<text x="${L + pw + 26}" y="${T + k * 16 + 9}" font-size="11">${esc(s.name)}</text>`);
  });
  for (const m of markers) {
    const xx = x(m.t);
    parts.push(`<line class="fault" x1="${xx}" x2="${xx}" y1="${T}" y2="${T + ph}" stroke="#c00" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${xx + 3}" y="${T + 11}" font-size="10" fill="#c00">${esc(m.label)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/** The report's charts, each with the injected faults marked: latency, throughput, errors, users, replicas, the tool's CPU. */
function reportCharts(s: Summary): string[] {
  const xMax = Math.max(s.durationS, ...s.series.map((p) => p.t), 1);
  const markers: Marker[] = s.faults.map((f) => ({ t: f.firedAtS, label: `${f.kind}${f.ok ? '' : ' (failed)'}` }));
  const pts = (f: (p: Summary['series'][number]) => number | null): Array<[number, number | null]> => s.series.map((p) => [p.t, f(p)]);
  return [
    lineChart(
      'Response time percentiles',
      'ms',
      [
        { name: 'read p50', points: pts((p) => p.readP50) },
        { name: 'read p95', points: pts((p) => p.readP95) },
        { name: 'read p99', points: pts((p) => p.readP99) },
        { name: 'write p95', points: pts((p) => p.writeP95) },
        { name: 'write p99', points: pts((p) => p.writeP99) },
      ],
      markers,
      xMax,
    ),
    lineChart('Throughput', 'ops/s', [{ name: 'ops/s', points: pts((p) => p.opsPerS) }], markers, xMax),
    lineChart('Errors', 'errors/s', [{ name: 'errors/s', points: pts((p) => p.errorsPerS) }], markers, xMax),
    lineChart(
      'Simulated users and requests in flight',
      'count',
      [
        { name: 'users', points: pts((p) => p.users) },
        { name: 'in flight', points: pts((p) => p.inflight) },
      ],
      markers,
      xMax,
    ),
    s.replicas.available
      ? lineChart(
          'Running replicas per service (Docker API)',
          'replicas',
          s.replicas.services.map((svc) => ({ name: svc, step: true, points: s.replicas.points.map((p) => [p.t, p.counts[svc] ?? 0] as [number, number]) })),
          markers,
          xMax,
        )
      : `<p class="note">Replicas per service: not sampled (${esc(s.replicas.note ?? 'Docker API unavailable')}).</p>`,
    lineChart('Load generator CPU', '% of one core', [{ name: 'cpu %', points: pts((p) => p.cpuPct) }], markers, xMax),
  ];
}

/** The standalone HTML report: verdicts, Table 4, the SLA rows, faults, charts, errors, the tool's own cost, and the summary as JSON. */
export function htmlReport(s: Summary): string {
  const charts = reportCharts(s);
  const mark = (p: boolean | null): string => (p === null ? '<td class="na">n/a</td>' : p ? '<td class="pass">PASS</td>' : '<td class="fail">FAIL</td>');
  const slaRows = (rows: Summary['sla']['rows']): string =>
    rows.map((r) => `<tr><td>${esc(r.objective)}</td><td>${esc(r.limit)}</td><td>${esc(r.measured)}</td>${mark(r.pass)}</tr>`).join('');
  const t4 = s.actions
    .filter((a) => a.count > 0 || a.name !== 'login')
    .map(
      (a) =>
        `<tr><td>${esc(a.name)}</td><td>${a.count}</td><td>${ms(a.medianMs)}</td><td>${ms(a.minMs)}</td><td>${ms(a.maxMs)}</td><td>${ms(a.p95Ms)}</td><td>${ms(a.p99Ms)}</td><td>${a.failurePct.toFixed(2)}</td></tr>`,
    )
    .join('');
  const faults = s.faults.length
    ? `<h2>Injected faults</h2><ul>${s.faults.map((f) => `<li>t=${f.firedAtS.toFixed(1)} s: <b>${esc(f.kind)}</b> ${f.ok ? '' : '<b>failed</b> '}- ${esc(f.detail)}</li>`).join('')}</ul>`
    : '';
  const errs = Object.entries(s.errors)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Load test ${esc(s.startedAt)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2433}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccd;padding:.25rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}.pass{color:#2b8a3e;font-weight:700}.fail{color:#c92a2a;font-weight:700}.na{color:#888}
.verdict{font-size:1.3rem;font-weight:700}.note{color:#666}svg{display:block;margin:1rem 0}
</style></head><body>
<h1>Forum load test</h1>
${s.interrupted ? `<p class="fail">Interrupted (${esc(s.interrupted.reason)}) at t=${s.interrupted.atS.toFixed(1)} s of ${esc(s.options.durationS)} s: the figures cover only the part that ran.</p>` : ''}
<p>${esc(s.startedAt)} → ${esc(s.finishedAt)} · target <code>${esc(s.options.target)}</code> · ${esc(s.options.users)} users, ramp ${esc(s.options.rampRate)}/s,
one operation every ${esc(s.options.thinkTimeS)} s, ${s.durationS.toFixed(0)} s · ${s.totals.requests} requests, ${s.totals.failurePct.toFixed(3)} % failed,
${s.totals.opsPerS.toFixed(1)} ops/s mean, ${s.totals.peakOpsPerS.toFixed(1)} peak.</p>
<p class="verdict">SLA (SPEC §5 Table 1): <span class="${s.sla.pass ? 'pass' : 'fail'}">${s.sla.pass ? 'PASS' : 'FAIL'}</span> ·
capacity goal: <span class="${s.sla.capacity.pass ? 'pass' : 'fail'}">${s.sla.capacity.pass ? 'PASS' : 'FAIL'}</span></p>
<h2>Per action (Table 4)</h2>
<table id="table4"><tr><th>action</th><th>requests</th><th>median ms</th><th>min ms</th><th>max ms</th><th>p95 ms</th><th>p99 ms</th><th>% failures</th></tr>${t4}</table>
<h2>SLA</h2>
<table id="sla"><tr><th>objective</th><th>limit</th><th>measured</th><th>verdict</th></tr>${slaRows(s.sla.rows)}</table>
<table id="capacity"><tr><th>capacity goal</th><th>limit</th><th>measured</th><th>verdict</th></tr>${slaRows(s.sla.capacity.rows)}</table>
${faults}
<h2>Charts</h2>
${charts.join('\n')}
${errs.length ? `<h2>Errors</h2><table><tr><th>kind</th><th>count</th></tr>${errs.map(([k, n]) => `<tr><td>${esc(k)}</td><td>${n}</td></tr>`).join('')}</table>` : ''}
<h2>Load generator</h2>
<p>CPU ${s.loadgen.cpuPctOfOneCore.toFixed(1)} % of one core on average (peak ${s.loadgen.peakCpuPct.toFixed(1)} %), event-loop delay p99
${s.loadgen.eventLoopDelayP99Ms.toFixed(1)} ms, peak in-flight ${s.loadgen.peakInflight}, RSS ${s.loadgen.rssMiB.toFixed(0)} MiB.
Seed: ${s.seed.accounts} accounts, ${s.seed.threads} threads (${s.seed.seconds.toFixed(1)} s). ${s.seed.notes.map(esc).join(' ')}</p>
<script type="application/json" id="summary">${JSON.stringify(s).replace(/</g, '\\u003c')}</script>
</body></html>
`;
}
