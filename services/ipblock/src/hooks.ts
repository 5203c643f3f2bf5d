import { z } from '@forum/shared';

/**
 * The JSON contracts of the two alerting webhooks. They are exactly what the generated templates produce
 * (services/monitoring-provision, from sla-rules.yml `bruteforce`): configs/monitoring/elasticsearch/
 * watcher-login-bruteforce.json (Watcher webhook action) and configs/monitoring/kibana/rule-login-bruteforce.json
 * (Kibana webhook connector, one call per offending IP). `ttlSeconds` is the block's TTL (bounded like
 * POST /v1/blocks); without it the brute-force TTL of sla-rules.yml (`bruteforce.blockSeconds`) applies.
 */

const count = z.coerce.number().int().nonnegative();

/** Watcher: the terms aggregation buckets of failed logins per source.ip in the window. */
export const watcherBody = z
  .object({
    source: z.literal('watcher').optional(),
    watchId: z.string().max(256).optional(),
    executionTime: z.string().max(64).optional(),
    windowSeconds: count.optional(),
    ttlSeconds: z.number({ invalid_type_error: 'ttlSeconds must be an integer number of seconds' }).optional(),
    buckets: z.array(z.object({ key: z.string().min(1).max(64), doc_count: count }).passthrough()).max(1000),
  })
  .strict();

/** Kibana index-threshold rule grouped by source.ip: one alert (and webhook call) per offending IP. */
export const kibanaBody = z
  .object({
    source: z.literal('kibana').optional(),
    ruleId: z.string().max(256).optional(),
    ruleName: z.string().max(256).optional(),
    alertId: z.string().max(256).optional(),
    ip: z.string().min(1).max(64),
    count: count.optional(),
    windowSeconds: count.optional(),
    ttlSeconds: z.number({ invalid_type_error: 'ttlSeconds must be an integer number of seconds' }).optional(),
    date: z.string().max(64).optional(),
  })
  .strict();

export interface Offender {
  ip: string;
  failures: number | undefined;
}

/** Offenders at or above the threshold; the rest are ignored (a watcher might send every bucket). */
export function offendersFromWatcher(body: z.infer<typeof watcherBody>, threshold: number): Offender[] {
  return body.buckets.filter((b) => b.doc_count >= threshold).map((b) => ({ ip: b.key, failures: b.doc_count }));
}

export function offendersFromKibana(body: z.infer<typeof kibanaBody>, threshold: number): Offender[] {
  if (body.count !== undefined && body.count < threshold) return [];
  return [{ ip: body.ip, failures: body.count }];
}
