import type { Rules } from './rules.js';
import { ipblockHook } from './edge.js';

/**
 * The brute-force Watcher (docs/REQUIREMENTS.md §5: the same IP fails login N times within W seconds -> Slack + ipblock).
 * Placeholders ${EDGE_URL}, ${IPBLOCK_TOKEN} and ${SLACK_WEBHOOK_URL} are substituted at install time, so the
 * generated JSON (and its snapshot) never holds a secret or a deployment's address. The ipblock body is the contract
 * of POST /v1/hooks/watcher (through the edge: /ops/ipblock/v1/hooks/watcher); `ttlSeconds` is the block's TTL.
 */
export function bruteforceWatch(rules: Rules): Record<string, unknown> {
  const b = rules.bruteforce;
  return {
    metadata: {
      name: 'login-bruteforce',
      description: `GENERATED from configs/alerts/sla-rules.yml (bruteforce): ${b.failures} failed logins per source.ip within ${b.windowSeconds} s -> Slack + ipblock`,
      threshold: b.failures,
      window_seconds: b.windowSeconds,
    },
    trigger: { schedule: { interval: '10s' } },
    input: {
      search: {
        request: {
          indices: [b.index],
          body: {
            size: 0,
            query: {
              bool: {
                filter: [
                  { range: { '@timestamp': { gte: `now-${b.windowSeconds}s` } } },
                  { term: { 'event.dataset': 'nginx.access' } },
                  { term: { 'http.request.method': b.method } },
                  { term: { 'url.path': b.path } },
                  { terms: { 'http.response.status_code': b.statuses } },
                ],
              },
            },
            aggs: { by_ip: { terms: { field: 'source.ip', min_doc_count: b.failures, size: 100 } } },
          },
        },
      },
    },
    condition: { script: { lang: 'painless', source: 'return ctx.payload.aggregations.by_ip.buckets.size() > 0' } },
    throttle_period: `${b.windowSeconds}s`,
    actions: {
      block_ips: {
        webhook: {
          method: 'post',
          url: ipblockHook('watcher'),
          headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ${IPBLOCK_TOKEN}' },
          connection_timeout: '5s',
          read_timeout: '10s',
          body: `{"source":"watcher","watchId":"{{ctx.watch_id}}","executionTime":"{{ctx.execution_time}}","windowSeconds":${b.windowSeconds},"ttlSeconds":${b.blockSeconds},"buckets":{{#toJson}}ctx.payload.aggregations.by_ip.buckets{{/toJson}}}`,
        },
      },
      notify_slack: {
        webhook: {
          method: 'post',
          url: '${SLACK_WEBHOOK_URL}',
          headers: { 'Content-Type': 'application/json' },
          body: `{"channel":"${rules.notify.slack.channel}","text":"Login brute force: {{#ctx.payload.aggregations.by_ip.buckets}}{{key}} ({{doc_count}} failures) {{/ctx.payload.aggregations.by_ip.buckets}}in ${b.windowSeconds} s - blocking at the edge","attachments":[{"color":"danger","text":"watch {{ctx.watch_id}} at {{ctx.execution_time}}"}]}`,
        },
      },
    },
  };
}
