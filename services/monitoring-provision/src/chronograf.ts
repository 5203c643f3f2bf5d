import type { Rule, Rules } from './rules.js';

interface Cell {
  x: number;
  y: number;
  w: number;
  h: number;
  name: string;
  type: 'line' | 'single-stat' | 'line-plus-single-stat';
  queries: Array<{ query: string; label?: string; type?: 'influxql'; source?: string }>;
}
export interface Dashboard {
  name: string;
  cells: Cell[];
  templates: unknown[];
}

const grid = (cells: Array<Omit<Cell, 'x' | 'y' | 'w' | 'h'>>, w = 6, h = 4): Cell[] =>
  cells.map((c, i) => ({
    ...c,
    queries: c.queries.map((q) => ({ ...q, type: 'influxql' as const, source: '' })),
    x: (i % 2) * w,
    y: Math.floor(i / 2) * h,
    w,
    h,
  }));

/**
 * Chronograf's dashboard file (what its "Export Dashboard" writes and "Import Dashboard" reads:
 * `{meta: {chronografVersion, sources}, dashboard}`); provisioning posts the `dashboard` part to the API.
 * `source: ''` in each query = the dashboard's current source, so the file imports into any Chronograf.
 */
export function exportFile(d: Dashboard): {
  meta: { chronografVersion: string; sources: Record<string, unknown> };
  dashboard: Dashboard & { organization: string };
} {
  return { meta: { chronografVersion: '1.10.0', sources: {} }, dashboard: { ...d, organization: 'default' } };
}

function ruleQueries(rules: Rules, r: Rule): Array<{ query: string; label?: string }> {
  const from = `"${rules.influx.database}"."${rules.influx.retentionPolicy}"."${r.measurement}"`;
  const gb = ['time(:interval:)', ...r.groupBy.map((t) => `"${t}"`)].join(', ');
  const one = (p: { select: string; where?: string }, label?: string) => ({
    query: `SELECT ${p.select} AS "value" FROM ${from} WHERE time > :dashboardTime:${p.where ? ` AND ${p.where}` : ''} GROUP BY ${gb} FILL(null)`,
    label,
  });
  if ('ratio' in r.value) return [one(r.value.ratio.numerator, 'numerator'), one(r.value.ratio.denominator, 'denominator')];
  return [one(r.value, r.unit)];
}

/** Chronograf dashboards generated from the rules file plus a per-node SNMP dashboard and a per-instance one. */
export function dashboards(rules: Rules, all: Rule[]): Dashboard[] {
  const db = `"${rules.influx.database}"."${rules.influx.retentionPolicy}"`;
  const sla: Dashboard = {
    name: 'Forum SLA (sla-rules.yml)',
    templates: [],
    cells: grid(
      all.map((r) => ({
        name: `${r.id}: ${r.description} (alert ${r.op} ${r.warn}${r.crit !== undefined ? `, crit ${r.crit}` : ''} ${r.unit})`,
        type: 'line' as const,
        queries: ruleQueries(rules, r),
      })),
    ),
  };
  const nodeVar = ':node:';
  const snmpQ = (sel: string) =>
    `SELECT ${sel} FROM ${db}."snmp" WHERE time > :dashboardTime: AND "hostname" = '${nodeVar}' GROUP BY time(:interval:) FILL(null)`;
  const snmp: Dashboard = {
    name: 'Nodes (SNMP)',
    templates: [
      {
        tempVar: nodeVar,
        id: '',
        type: 'tagValues',
        label: 'node (sysName)',
        values: [],
        query: {
          influxql: 'SHOW TAG VALUES ON :database: FROM :measurement: WITH KEY=:tagKey:',
          db: rules.influx.database,
          measurement: 'snmp',
          tagKey: 'hostname',
          fieldKey: '',
        },
      },
    ],
    cells: grid([
      { name: 'CPU used % (alert > 50, SLO < 70)', type: 'line', queries: [{ query: snmpQ('mean("cpu_used_percent") AS "cpu %"') }] },
      { name: 'RAM used % (alert > 55, SLO < 70)', type: 'line', queries: [{ query: snmpQ('mean("mem_used_percent") AS "ram %"') }] },
      { name: 'Disk used % (alert > 70, SLO < 80)', type: 'line', queries: [{ query: snmpQ('mean("dskPercent") AS "disk %"') }] },
      { name: 'Uptime (s)', type: 'single-stat', queries: [{ query: snmpQ('last("sysUpTimeInstance") / 100 AS "uptime"') }] },
      { name: 'Total memory (kB)', type: 'single-stat', queries: [{ query: snmpQ('last("memTotalReal") AS "memTotalReal"') }] },
      { name: 'Total disk (kB)', type: 'single-stat', queries: [{ query: snmpQ('last("dskTotal") AS "dskTotal"') }] },
      { name: 'IO blocks sent / received per s', type: 'line', queries: [{ query: snmpQ('mean("ssIOSent") AS "sent", mean("ssIOReceive") AS "received"') }] },
      {
        name: 'SNMP agent up (all nodes)',
        type: 'line',
        queries: [{ query: `SELECT last("up") AS "up" FROM ${db}."snmp_status" WHERE time > :dashboardTime: GROUP BY time(:interval:), "node" FILL(null)` }],
      },
    ]),
  };
  const inst = (m: string, sel: string, where = '') =>
    `SELECT ${sel} FROM ${db}."${m}" WHERE time > :dashboardTime:${where} GROUP BY time(:interval:), "instance" FILL(null)`;
  const instances: Dashboard = {
    name: 'Forum instances',
    templates: [],
    cells: grid([
      { name: 'NGINX active clients per instance', type: 'line', queries: [{ query: inst('nginx', 'mean("active")') }] },
      { name: 'NGINX requests/s per instance', type: 'line', queries: [{ query: inst('nginx', 'non_negative_derivative(max("requests"), 1s)') }] },
      {
        name: 'NGINX reading / writing / waiting',
        type: 'line',
        queries: [{ query: inst('nginx', 'mean("reading") AS "reading", mean("writing") AS "writing", mean("waiting") AS "waiting"') }],
      },
      {
        name: 'API requests in flight per instance',
        type: 'line',
        queries: [{ query: inst('http_requests_in_flight', 'max("gauge")', ` AND "swarm_service" = 'api'`) }],
      },
      {
        name: 'HAProxy active servers (redis-proxy)',
        type: 'line',
        queries: [{ query: inst('haproxy', 'last("active_servers")', ` AND "type" = 'backend'`) }],
      },
      {
        name: 'PostgreSQL commits / rollbacks per s',
        type: 'line',
        queries: [
          {
            query: inst(
              'postgresql',
              'non_negative_derivative(sum("xact_commit"), 1s) AS "commits", non_negative_derivative(sum("xact_rollback"), 1s) AS "rollbacks"',
            ),
          },
        ],
      },
      {
        name: 'PostgreSQL deadlocks / conflicts',
        type: 'line',
        queries: [{ query: inst('postgresql', 'sum("deadlocks") AS "deadlocks", sum("conflicts") AS "conflicts"') }],
      },
      { name: 'PostgreSQL replication lag (s)', type: 'line', queries: [{ query: inst('postgresql_replication', 'max("lag_seconds")') }] },
      {
        name: 'Redis clients / ops per s',
        type: 'line',
        queries: [{ query: inst('redis', 'mean("clients") AS "clients", mean("instantaneous_ops_per_sec") AS "ops"') }],
      },
      {
        name: 'Pgpool backends up',
        type: 'line',
        queries: [{ query: `SELECT last("up") FROM ${db}."pgpool" WHERE time > :dashboardTime: GROUP BY time(:interval:), "hostname" FILL(null)` }],
      },
      {
        name: 'Metrics agent: dropped points',
        type: 'line',
        queries: [
          { query: `SELECT max("metrics_dropped") FROM ${db}."internal_write" WHERE time > :dashboardTime: GROUP BY time(:interval:), "host" FILL(null)` },
        ],
      },
      {
        name: 'Scrape targets up',
        type: 'line',
        queries: [{ query: `SELECT last("up") FROM ${db}."agent_target" WHERE time > :dashboardTime: GROUP BY time(:interval:), "instance" FILL(null)` }],
      },
    ]),
  };
  return [sla, snmp, instances];
}
