import { env, loadConfigOrExit, z } from '@forum/shared';

export const configShape = {
  PORT: env.int(8080),
  SLA_RULES_FILE: z.string().default('/etc/forum/sla-rules.yml'),
  /** JSON per-rule overrides, e.g. {"nginx_scale_up":{"warn":5,"period":"30s"}} (tests, temporary tuning) */
  RULE_OVERRIDES: z.string().default('{}'),
  INFLUX_URL: z.string().url().default('http://influxdb:8086'),
  /** overrides the rules file's influx.database */
  INFLUX_DB: z.string().optional(),
  INFLUX_USER: z.string().optional(),
  INFLUX_PASSWORD: z.string().optional(),
  SLACK_WEBHOOK_URL: z.string().url().optional(),
  SLACK_CHANNEL: z.string().optional(),
  /** the autoscaler's base URL; scale rules post to <AUTOSCALER_URL>/v1/hooks/kapacitor (else the rules file's notify.autoscaler.url) */
  AUTOSCALER_URL: z.string().url().optional(),
  AUTOSCALER_TOKEN: z.string().optional(),
  /** an external Kapacitor evaluates the same rules: the alerter then stays idle */
  KAPACITOR_URL: z.string().optional(),
  EVAL_INTERVAL_SECONDS: z.coerce.number().positive().default(10),
  /** write every transition to this database's `alerts` measurement (Chronograf alert history); empty = off */
  ALERT_HISTORY_DB: z.string().default(''),
  SLACK_MIN_INTERVAL_MS: env.int(1100),
};

export function loadAlerterConfig(envVars: NodeJS.ProcessEnv = process.env) {
  return loadConfigOrExit(configShape, { secrets: ['INFLUX_PASSWORD', 'SLACK_WEBHOOK_URL', 'AUTOSCALER_TOKEN'], env: envVars });
}
