import { env, loadConfigOrExit, z } from '@forum/shared';

export const configShape = {
  PORT: env.int(8080),
  /** bearer token every /v1 call must present (Docker secret autoscaler_token via AUTOSCALER_TOKEN_FILE) */
  AUTOSCALER_TOKEN: z.string().min(16, 'AUTOSCALER_TOKEN must be at least 16 characters (use AUTOSCALER_TOKEN_FILE)'),
  SLACK_WEBHOOK_URL: z.string().url().optional(),
  SLACK_CHANNEL: z.string().optional(),
  DOCKER_SOCKET: z.string().default('/var/run/docker.sock'),
  /** the stack namespace: "api" also finds "<STACK_NAME>_api" */
  STACK_NAME: z.string().optional(),
  AUTOSCALE_LABEL_PREFIX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]*$/)
    .default('autoscale'),
  /** what an alert recovery (Kapacitor OK, Alertmanager resolved, Kibana recovered) does: nothing, or the opposite step */
  HOOK_RECOVERY_ACTION: z.enum(['ignore', 'reverse']).default('ignore'),
  /** configs/alerts/sla-rules.yml: its autoscale.rules map alert ids to {service, direction} (optional) */
  SLA_RULES_FILE: z.string().optional(),
  /** minimum spacing of Slack posts (Slack allows about one message per second per hook) */
  SLACK_MIN_INTERVAL_MS: env.int(1100),
};

export function loadAutoscalerConfig(envVars: NodeJS.ProcessEnv = process.env) {
  return loadConfigOrExit(configShape, { secrets: ['AUTOSCALER_TOKEN', 'SLACK_WEBHOOK_URL'], env: envVars });
}
export type AutoscalerConfig = ReturnType<typeof loadAutoscalerConfig>;
