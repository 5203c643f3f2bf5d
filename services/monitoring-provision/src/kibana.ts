import type { Rules } from './rules.js';
import { autoscalerHook, ipblockHook } from './edge.js';

/**
 * Kibana (basic license) equivalents of the Watcher: an index-threshold rule grouped by source.ip whose webhook
 * connector posts one call per offending IP to ipblock, and a webhook connector for the autoscaler. Generated from
 * the same `bruteforce` / `autoscale.rules` sections as everything else. `${EDGE_URL}`, `${IPBLOCK_TOKEN}`,
 * `${AUTOSCALER_TOKEN}` and `${KIBANA_IPBLOCK_CONNECTOR_ID}` are substituted at install time. Kibana renders webhook
 * bodies with JSON-escaped Mustache variables, so quoted {{...}} values stay valid JSON.
 */
export function ipblockConnector(): Record<string, unknown> {
  return {
    name: 'forum-ipblock',
    connector_type_id: '.webhook',
    config: {
      url: ipblockHook('kibana'),
      method: 'post',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ${IPBLOCK_TOKEN}' },
      hasAuth: false,
    },
    secrets: {},
  };
}

/** KQL of a failed login: the ECS fields the log-shipper writes (event.dataset nginx.access). */
export function failedLoginKuery(rules: Rules): string {
  const b = rules.bruteforce;
  return `event.dataset : "nginx.access" and http.request.method : "${b.method}" and url.path : "${b.path}" and http.response.status_code : (${b.statuses.join(' or ')})`;
}

export function bruteforceRule(rules: Rules): Record<string, unknown> {
  const b = rules.bruteforce;
  return {
    name: 'login-bruteforce',
    tags: ['security', 'ipblock', 'generated:sla-rules.yml'],
    rule_type_id: '.index-threshold',
    consumer: 'alerts',
    schedule: { interval: '10s' },
    params: {
      index: [b.index],
      timeField: '@timestamp',
      aggType: 'count',
      groupBy: 'top',
      termField: 'source.ip',
      termSize: 100,
      timeWindowSize: b.windowSeconds,
      timeWindowUnit: 's',
      thresholdComparator: '>=',
      threshold: [b.failures],
      filterKuery: failedLoginKuery(rules),
    },
    actions: [
      {
        group: 'threshold met',
        id: '${KIBANA_IPBLOCK_CONNECTOR_ID}',
        frequency: { summary: false, notify_when: 'onActiveAlert', throttle: null },
        params: {
          body: `{"source":"kibana","ruleId":"{{rule.id}}","ruleName":"{{rule.name}}","alertId":"{{alert.id}}","ip":"{{context.group}}","count":{{context.value}},"windowSeconds":${b.windowSeconds},"ttlSeconds":${b.blockSeconds},"date":"{{context.date}}"}`,
        },
      },
    ],
  };
}

/**
 * The autoscaler's Kibana webhook connector plus, per autoscale rule, the action params a Kibana rule uses (its
 * body is what POST /v1/hooks/kibana expects; the action group `recovered` is ignored unless HOOK_RECOVERY_ACTION=
 * reverse). Kibana keeps connector headers in `config`, so the token is substituted there at install time.
 */
export function autoscalerConnector(rules: Rules): Record<string, unknown> {
  const actions: Record<string, unknown> = {};
  for (const r of rules.autoscale.rules) {
    actions[r.id] = {
      group: 'threshold met',
      id: '${KIBANA_AUTOSCALER_CONNECTOR_ID}',
      frequency: { summary: false, notify_when: 'onActiveAlert', throttle: null },
      params: {
        body: `{"service":"${r.service}","direction":"${r.direction}","reason":"{{context.message}}","state":"{{alert.actionGroup}}","rule":{"id":"{{rule.id}}","name":"{{rule.name}}"},"alertId":"{{alert.id}}"}`,
      },
    };
  }
  return {
    connector: {
      name: 'forum-autoscaler',
      connector_type_id: '.webhook',
      config: {
        url: autoscalerHook('kibana'),
        method: 'post',
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ${AUTOSCALER_TOKEN}' },
        hasAuth: false,
      },
      secrets: {},
    },
    actions,
  };
}
