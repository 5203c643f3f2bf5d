import { env, loadConfigOrExit, z } from '@forum/shared';

export const configShape = {
  PORT: env.int(8080),
  // unset: no Elasticsearch (local default); NGINX response counters still go to InfluxDB
  ES_URL: z.union([z.string().url(), z.literal('')]).optional(),
  ES_USERNAME: z.string().optional(),
  ES_PASSWORD: z.string().optional(),
  ES_API_KEY: z.string().optional(),
  ES_PIPELINE: z.string().optional(),
  INDEX_PREFIX: z.string().default('filebeat-forum'),
  NGINX_SERVICES: env.list('nginx'),
  API_SERVICES: env.list('api,worker'),
  DOCKER_SOCKET: z.string().default('/var/run/docker.sock'),
  BUFFER_LIMIT: env.int(50_000),
  BATCH_SIZE: env.int(500),
  LOOKBACK_SECONDS: env.int(60),
  INFLUX_URL: z.string().url().optional(),
  INFLUX_DB: z.string().default('telegraf'),
  INFLUX_USER: z.string().optional(),
  INFLUX_PASSWORD: z.string().optional(),
  COUNTER_INTERVAL_SECONDS: env.int(10),
  NODE_HOSTNAME: z.string().optional(),
  STACK_NAMESPACE: z.string().default('forum'),
  // UDP port of NGINX's access lines (`access_log syslog:`, nginx-agent points NGINX here); 0: none
  SYSLOG_PORT: env.int(5140),
};

export function loadLogShipperConfig(envVars: NodeJS.ProcessEnv = process.env) {
  return loadConfigOrExit(configShape, { secrets: ['ES_PASSWORD', 'ES_API_KEY', 'INFLUX_PASSWORD'], env: envVars });
}
export type LogShipperConfig = ReturnType<typeof loadLogShipperConfig>;
