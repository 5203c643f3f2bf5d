import { promises as dns } from 'node:dns';
import type Docker from 'dockerode';
import type { Target, TargetKind } from './collectors/types.js';

const KINDS: TargetKind[] = ['stub_status', 'redis', 'postgresql', 'haproxy', 'pgpool', 'prometheus'];

export interface KindRule {
  kind: TargetKind;
  port: number;
  path?: string;
}

/** Default service -> scrape mapping (docs/CONVENTIONS.md, docs/DATA-TIER.md); TARGETS env overrides/extends it. */
export const DEFAULT_TARGETS =
  'nginx=stub_status:8081/nginx_status,redis-0=redis:6379,redis-1=redis:6379,redis-2=redis:6379,' +
  'pg-0=postgresql:5432,pg-1=postgresql:5432,pg-2=postgresql:5432,redis-proxy=haproxy:8404/stats;csv,' +
  'pgpool=pgpool:5432,api=prometheus:9464/metrics,worker=prometheus:9464/metrics,ipblock=prometheus:8080/metrics,' +
  'autoscaler=prometheus:8080/metrics,alerter=prometheus:8080/metrics,snmp-poller=prometheus:8080/metrics,' +
  'log-shipper=prometheus:8080/metrics,backup=prometheus:8080/metrics';

/** Parses `svc=kind:port[/path],...`. Throws naming the bad entry. */
export function parseTargetMap(spec: string): Map<string, KindRule[]> {
  const map = new Map<string, KindRule[]>();
  for (const entry of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([\w.-]+)=(\w+):(\d+)(\/.*)?$/.exec(entry);
    if (!m || !KINDS.includes(m[2] as TargetKind)) throw new Error(`bad target mapping "${entry}" (want svc=kind:port[/path], kind one of ${KINDS.join('|')})`);
    const list = map.get(m[1]) ?? [];
    list.push({ kind: m[2] as TargetKind, port: Number(m[3]), path: m[4] });
    map.set(m[1], list);
  }
  return map;
}

/** Parses STATIC_TARGETS `svc=kind@host:port[/path],...` (for hosts without a Docker socket, and tests). */
export function parseStaticTargets(spec: string): Target[] {
  const out: Target[] = [];
  for (const entry of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([\w.-]+)=(\w+)@([^:/]+):(\d+)(\/.*)?$/.exec(entry);
    if (!m || !KINDS.includes(m[2] as TargetKind)) throw new Error(`bad static target "${entry}" (want svc=kind@host:port[/path])`);
    out.push({ service: m[1], kind: m[2] as TargetKind, address: m[3], port: Number(m[4]), path: m[5] });
  }
  return out;
}

const SERVICE_LABEL = 'com.docker.swarm.service.name';
const STACK_LABEL = 'com.docker.stack.namespace';

/**
 * Node-local discovery through the Docker API: every running swarm task container on THIS node whose service
 * (stack prefix removed) has a mapping, at its address on a network the agent shares (`networks` preference,
 * stack prefix ignored). Container labels forum.metrics.kind/port/path override the mapping. One agent per node
 * therefore scrapes each task exactly once across the cluster.
 */
export async function discoverDocker(docker: Docker, map: Map<string, KindRule[]>, networks: string[], stack?: string): Promise<Target[]> {
  const containers = await docker.listContainers({ filters: { status: ['running'] } });
  const out: Target[] = [];
  for (const c of containers) {
    const labels = c.Labels ?? {};
    const full = labels[SERVICE_LABEL];
    if (!full) continue;
    const ns = labels[STACK_LABEL];
    if (stack && ns !== stack) continue; // only our stack's tasks (other stacks may share the node)
    const short = ns && full.startsWith(`${ns}_`) ? full.slice(ns.length + 1) : full;
    let rules = map.get(short) ?? [];
    if (labels['forum.metrics.kind'] && labels['forum.metrics.port']) {
      rules = [{ kind: labels['forum.metrics.kind'] as TargetKind, port: Number(labels['forum.metrics.port']), path: labels['forum.metrics.path'] }];
    }
    if (rules.length === 0) continue;
    const nets = Object.entries(c.NetworkSettings?.Networks ?? {}).filter(([n, v]) => n !== 'ingress' && v.IPAddress);
    const strip = (n: string) => (ns && n.startsWith(`${ns}_`) ? n.slice(ns.length + 1) : n);
    nets.sort(([a], [b]) => rank(strip(a)) - rank(strip(b)));
    function rank(n: string): number {
      const i = networks.indexOf(n);
      return i < 0 ? networks.length : i;
    }
    const address = nets[0]?.[1].IPAddress;
    if (!address) continue;
    for (const r of rules) out.push({ service: short, kind: r.kind, port: r.port, path: r.path, address });
  }
  return out;
}

/** Swarm DNS discovery: `tasks.<svc>` resolves to every task's address (used when no Docker socket is mounted). */
export async function discoverDns(map: Map<string, KindRule[]>, services: string[]): Promise<Target[]> {
  const out: Target[] = [];
  await Promise.all(
    services.map(async (svc) => {
      const rules = map.get(svc);
      if (!rules) return;
      const addrs = await dns.resolve4(`tasks.${svc}`).catch(() => [] as string[]);
      for (const a of addrs) for (const r of rules) out.push({ service: svc, kind: r.kind, port: r.port, path: r.path, address: a });
    }),
  );
  return out;
}
