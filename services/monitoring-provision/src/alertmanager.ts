import { stringify } from 'yaml';
import type { Rules } from './rules.js';
import { autoscalerHook } from './edge.js';

/**
 * Example Alertmanager configuration for users whose alerts come from Prometheus: one webhook receiver posting to
 * the autoscaler through the edge, the bearer token read from a file (never inline). An alert names its target with
 * the labels `autoscale_service` + `autoscale_direction`, or with an `alertname` listed in autoscale.rules.
 * `repeat_interval` = the autoscale cooldown, so a scale alert that keeps firing is re-sent once per cooldown and
 * keeps scaling one step per cooldown, as Kapacitor's and the in-stack alerter's do. Substitute ${EDGE_URL} and the
 * token file's path before use.
 */
export function alertmanagerConfig(rules: Rules): string {
  const cfg = {
    route: {
      receiver: 'forum-autoscaler',
      group_by: ['alertname', 'autoscale_service', 'autoscale_direction'],
      group_wait: '10s',
      group_interval: '30s',
      repeat_interval: `${rules.autoscale.cooldownSeconds}s`,
    },
    receivers: [
      {
        name: 'forum-autoscaler',
        webhook_configs: [
          {
            url: autoscalerHook('alertmanager'),
            send_resolved: true,
            http_config: { authorization: { type: 'Bearer', credentials_file: '${AUTOSCALER_TOKEN_FILE}' } },
          },
        ],
      },
    ],
  };
  return `# GENERATED from configs/alerts/sla-rules.yml by services/monitoring-provision - do not edit.
# Alertmanager -> autoscaler through the edge. Substitute \${EDGE_URL} (e.g. http://<edge-host>) and
# \${AUTOSCALER_TOKEN_FILE} (a 0600 file holding the autoscaler_token secret). Alerts name their target with the
# labels autoscale_service + autoscale_direction, or an alertname of autoscale.rules (${rules.autoscale.rules.map((r) => r.id).join(', ')}).
${stringify(cfg)}`;
}
