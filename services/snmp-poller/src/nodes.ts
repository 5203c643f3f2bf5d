import { readFile } from 'node:fs/promises';
import type Docker from 'dockerode';
import type { SnmpNode } from './poller.js';

/** The container's default gateway (docker_gwbridge on a swarm task): how a task reaches its own node. */
export async function defaultGateway(routeFile = '/proc/net/route'): Promise<string | undefined> {
  const text = await readFile(routeFile, 'utf8').catch(() => '');
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === '00000000' && f[2] && f[2] !== '00000000') {
      const n = parseInt(f[2], 16);
      return [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >> 24) & 255].join('.');
    }
  }
  return undefined;
}

/**
 * Asks a Swarm manager which nodes run tasks of `stack` (desired state running). A node whose advertised address
 * is loopback (single-node swarms) is reached through `loopbackAddress` (default: this task's default gateway).
 */
export async function discoverNodes(docker: Docker, stack: string, port: number, loopbackAddress?: string): Promise<SnmpNode[]> {
  const services = (await docker.listServices({ filters: { label: [`com.docker.stack.namespace=${stack}`] } })) as Array<{ ID: string }>;
  if (services.length === 0) return [];
  const [tasks, nodes] = await Promise.all([
    docker.listTasks({ filters: { 'desired-state': ['running'], service: services.map((s) => s.ID) } }),
    docker.listNodes(),
  ]);
  const used = new Set(tasks.map((t: { NodeID?: string }) => t.NodeID).filter(Boolean));
  const out: SnmpNode[] = [];
  for (const n of nodes as Array<{ ID: string; Status?: { Addr?: string; State?: string }; Description?: { Hostname?: string } }>) {
    if (!used.has(n.ID)) continue;
    let addr = n.Status?.Addr ?? '';
    if (!addr || addr === '0.0.0.0' || addr.startsWith('127.')) addr = loopbackAddress ?? (await defaultGateway()) ?? '127.0.0.1';
    out.push({ name: n.Description?.Hostname ?? n.ID, address: addr, port });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
