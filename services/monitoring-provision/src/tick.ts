import type { Rule, Rules } from './rules.js';

const f = (n: number): string => (Number.isInteger(n) ? `${n}.0` : String(n));
const lit = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function selectQuery(rules: Rules, r: Rule, part: { select: string; where?: string }): string {
  const from = `"${rules.influx.database}"."${rules.influx.retentionPolicy}"."${r.measurement}"`;
  return `SELECT ${part.select} AS "value" FROM ${from}${part.where ? ` WHERE ${part.where}` : ''}`;
}

function batchVar(name: string, rules: Rules, r: Rule, part: { select: string; where?: string }): string {
  const groupBy = [`time(${r.bucket})`, ...r.groupBy.map((t) => lit(t))].join(', ');
  return `var ${name} = batch
    |query(${lit(selectQuery(rules, r, part))})
        .period(period)
        .every(every)
        .groupBy(${groupBy})
        .fill('none')
    |${r.reduce}('value')
        .as('value')
`;
}

/**
 * One Kapacitor batch TICKscript per rule (Chronograf's alert-rule layout, so the alert history in Chronograf
 * works): hysteresis via warnReset/critReset, Slack on every state change (recoveries included), the autoscale
 * rules also .post() to the autoscaler on every evaluation while firing (httppost endpoint `autoscaler`, whose URL
 * and auth header live in Kapacitor's config, never in the script), and every alert event written to
 * chronograf.autogen.alerts.
 */
export function tickscript(rules: Rules, r: Rule): string {
  const h = r.hysteresis;
  const reset = (v: string) => (r.op === '>' ? `"value" <= ${v} * (1.0 - hyst)` : `"value" >= ${v} * (1.0 + hyst)`);
  const tags = r.groupBy.length ? ` on {{ range $k, $v := .Tags }}{{ $k }}={{ $v }} {{ end }}` : ' ';
  const limits = `${r.op} ${r.warn}${r.crit !== undefined ? ` (crit ${r.op} ${r.crit})` : ''}`;
  const message = `{{ if eq .Level "OK" }}RECOVERED{{ else }}{{ .Level }}{{ end }} ${r.id}: ${r.description}${tags}= {{ index .Fields "value" | printf "%0.2f" }} ${r.unit} (alert ${limits})`;
  let data: string;
  if ('ratio' in r.value) {
    const scale = r.value.scale ?? 1;
    data = `${batchVar('num', rules, r, r.value.ratio.numerator)}
${batchVar('den', rules, r, r.value.ratio.denominator)}
var data = num
    |join(den)
        .as('num', 'den')
        .tolerance(every)
    |eval(lambda: if("den.value" > 0.0, ${f(scale)} * "num.value" / "den.value", 0.0))
        .as('value')
`;
  } else {
    data = batchVar('data', rules, r, r.value);
  }
  // Scale rules: a second alert node on the same data, WITHOUT stateChangesOnly, so Kapacitor posts every evaluation
  // while the alert fires (and the recovery once). The autoscaler's cooldown paces the steps: a sustained overload
  // scales one step per cooldown, exactly as the in-stack alerter does (it re-posts once nextAllowedAt passed).
  // The price is one refused call per `every` during a cooldown; the autoscaler counts those without a Slack post.
  // Slack and the alert history stay on the state-change node.
  const scaleNode = r.notify.includes('autoscaler')
    ? `
// autoscaler: every evaluation while firing (no stateChangesOnly), see above
data
    |alert()
        .id(idVar)
        .message(${lit(message)})
        .details('')
        .warn(lambda: "value" ${r.op} warn)
        .warnReset(lambda: ${reset('warn')})
${
  r.crit !== undefined
    ? `        .crit(lambda: "value" ${r.op} crit)
        .critReset(lambda: ${reset('crit')})
`
    : ''
}        .post()
            .endpoint('autoscaler')
`
    : '';
  return `// GENERATED from configs/alerts/sla-rules.yml rule "${r.id}" by services/monitoring-provision - do not edit.
// ${r.kind === 'autoscale' ? `autoscale ${r.service} ${r.direction}` : `SLA alert (${r.service})`}: ${r.description}
var db = ${lit(rules.influx.database)}
var rp = ${lit(rules.influx.retentionPolicy)}
var name = ${lit(r.id)}
var idVar = name
var period = ${r.period}
var every = ${r.every}
var warn = ${f(r.warn)}
${r.crit !== undefined ? `var crit = ${f(r.crit)}\n` : ''}var hyst = ${f(h)}
var outputDB = 'chronograf'
var outputRP = 'autogen'
var outputMeasurement = 'alerts'
var triggerType = 'threshold'

${data}
var trigger = data
    |alert()
        .id(idVar)
        .message(${lit(message)})
        .details('')
        .idTag('alertID')
        .levelTag('level')
        .messageField('message')
        .durationField('duration')
        .warn(lambda: "value" ${r.op} warn)
        .warnReset(lambda: ${reset('warn')})
${r.crit !== undefined ? `        .crit(lambda: "value" ${r.op} crit)\n        .critReset(lambda: ${reset('crit')})\n` : ''}        .stateChangesOnly()
        .slack()
            .channel(${lit(rules.notify.slack.channel)})
${scaleNode}
trigger
    |eval(lambda: float("value"))
        .as('value')
        .keep()
    |influxDBOut()
        .create()
        .database(outputDB)
        .retentionPolicy(outputRP)
        .measurement(outputMeasurement)
        .tag('alertName', name)
        .tag('triggerType', triggerType)
`;
}

export function kapacitorTask(
  rules: Rules,
  r: Rule,
): { id: string; type: 'batch'; dbrps: Array<{ db: string; rp: string }>; script: string; status: 'enabled' } {
  return {
    id: `sla_${r.id}`,
    type: 'batch',
    dbrps: [{ db: rules.influx.database, rp: rules.influx.retentionPolicy }],
    script: tickscript(rules, r),
    status: 'enabled',
  };
}
