import type { Rules } from './rules.js';

/**
 * ONE setting (`retention.days` of sla-rules.yml) bounds both stores: the InfluxDB retention policy the metrics and
 * the alert history are written to, and the Elasticsearch ILM policy of the daily filebeat-* indices (deleted
 * `days` after creation; the indices are daily, so no rollover is needed).
 */
export const ILM_POLICY = 'filebeat-forum';

function shardDuration(days: number): string {
  if (days <= 2) return '1h';
  if (days <= 180) return '1d';
  return '7d';
}

/**
 * InfluxQL statements, idempotent (re-running them changes nothing): the databases exist, their retention policy
 * (`autogen`, which CREATE DATABASE makes, as Chronograf's canned dashboards expect) gets the duration. ALTER, not
 * CREATE DATABASE ... WITH DURATION: the latter fails on a database that already exists with other settings.
 */
export function influxRetention(rules: Rules): string[] {
  const d = rules.retention.days;
  const rp = rules.influx.retentionPolicy;
  return [rules.influx.database, 'chronograf'].flatMap((db) => [
    `CREATE DATABASE "${db}"`,
    `ALTER RETENTION POLICY "${rp}" ON "${db}" DURATION ${d}d SHARD DURATION ${shardDuration(d)} DEFAULT`,
  ]);
}

export function ilmPolicy(rules: Rules): Record<string, unknown> {
  return {
    policy: {
      _meta: { description: `GENERATED from configs/alerts/sla-rules.yml retention.days (${rules.retention.days}) by services/monitoring-provision` },
      phases: {
        hot: { min_age: '0ms', actions: {} },
        delete: { min_age: `${rules.retention.days}d`, actions: { delete: {} } },
      },
    },
  };
}
