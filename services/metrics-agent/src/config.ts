import { env, loadConfigOrExit, z } from '@forum/shared';
import { DEFAULT_TARGETS } from './discovery.js';

export const configShape = {
  PORT: env.int(8080),
  INFLUX_URL: z.string().url().default('http://influxdb:8086'),
  INFLUX_DB: z.string().default('telegraf'),
  INFLUX_RP: z.string().optional(),
  INFLUX_USER: z.string().optional(),
  INFLUX_PASSWORD: z.string().optional(),
  INTERVAL_SECONDS: env.int(10),
  TIMEOUT_SECONDS: env.int(8),
  BUFFER_LIMIT: env.int(100_000),
  BATCH_SIZE: env.int(5000),
  /** the Redis ACL user (the stack's `metrics`: PING and INFO); unset = the default user */
  REDIS_USER: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
  PG_USER: z.string().default('postgres'),
  PG_PASSWORD: z.string().optional(),
  PGPASSWORD: z.string().optional(),
  PG_DATABASE: z.string().default('postgres'),
  HOST_PROC: z.string().default('/proc'),
  DISK_PATHS: env.list('/'),
  DOCKER_SOCKET: z.string().default('/var/run/docker.sock'),
  DISCOVERY: z.enum(['docker', 'dns', 'static', 'none']).default('docker'),
  TARGETS: z.string().default(DEFAULT_TARGETS),
  STATIC_TARGETS: z.string().default(''),
  DNS_SERVICES: env.list(''),
  SCRAPE_NETWORKS: env.list('app-net,redis-net,postgres-net'),
  NODE_HOSTNAME: z.string().optional(),
  STACK_NAMESPACE: z.string().default('forum'),
  HOST_METRICS: env.bool(true),
  DOCKER_METRICS: env.bool(true),
  /**
   * Per-container stats (docker, docker_container_cpu/mem/net) every 30 s, the other sources every INTERVAL_SECONDS.
   * A round is one Docker API stats call per container, served by dockerd (it reads the cgroups and enters each
   * network namespace) and containerd. On the idle single-node stack (31 containers) this agent, dockerd and
   * containerd together used ~4 % of a core less at 30 s than at 10 s (BENCHMARKS.md). Nothing alerts on these
   * measurements; their graphs get a point every 30 s instead of 10 s. Set it to INTERVAL_SECONDS for the finer one.
   */
  DOCKER_INTERVAL_SECONDS: env.int(30),
};

export function loadMetricsAgentConfig(envVars: NodeJS.ProcessEnv = process.env) {
  return loadConfigOrExit(configShape, { secrets: ['INFLUX_PASSWORD', 'REDIS_PASSWORD', 'PG_PASSWORD', 'PGPASSWORD'], env: envVars });
}
export type MetricsAgentConfig = ReturnType<typeof loadMetricsAgentConfig>;
