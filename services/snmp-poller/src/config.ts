import { env, loadConfigOrExit, z } from '@forum/shared';

export const configShape = {
  PORT: env.int(8080),
  INFLUX_URL: z.string().url().default('http://influxdb:8086'),
  INFLUX_DB: z.string().default('telegraf'),
  INFLUX_USER: z.string().optional(),
  INFLUX_PASSWORD: z.string().optional(),
  STACK_NAMESPACE: z.string().optional(),
  STACK_NAME: z.string().default('forum'),
  DOCKER_HOST_URL: z.string().optional(),
  DOCKER_SOCKET: z.string().default('/var/run/docker.sock'),
  DISCOVERY_INTERVAL_SECONDS: env.int(180),
  POLL_INTERVAL_SECONDS: env.int(15),
  SNMP_TIMEOUT_MS: env.int(2000),
  SNMP_RETRIES: env.int(1),
  SNMP_PORT: env.int(161),
  SNMP_VERSION: z.enum(['2c', '3']).default('2c'),
  SNMP_COMMUNITY: z.string().optional(),
  SNMP_V3_USER: z.string().optional(),
  SNMP_V3_AUTH_PROTOCOL: z.enum(['md5', 'sha']).default('sha'),
  SNMP_V3_AUTH_KEY: z.string().optional(),
  SNMP_V3_PRIV_PROTOCOL: z.enum(['des', 'aes']).default('aes'),
  SNMP_V3_PRIV_KEY: z.string().optional(),
  LOOPBACK_NODE_ADDRESS: z.string().optional(),
  STATIC_NODES: env.list(''),
};

export function loadSnmpPollerConfig(envVars: NodeJS.ProcessEnv = process.env) {
  return loadConfigOrExit(configShape, { secrets: ['INFLUX_PASSWORD', 'SNMP_COMMUNITY', 'SNMP_V3_AUTH_KEY', 'SNMP_V3_PRIV_KEY'], env: envVars });
}
export type SnmpPollerConfig = ReturnType<typeof loadSnmpPollerConfig>;
