import type Docker from 'dockerode';
import { int, type Point } from '@forum/shared/influx';

const SERVICE_LABEL = 'com.docker.swarm.service.name';

async function mapLimit<T, R>(xs: T[], limit: number, fn: (x: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(xs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, xs.length) }, async () => {
      while (next < xs.length) {
        const i = next++;
        try {
          out[i] = { status: 'fulfilled', value: await fn(xs[i]) };
        } catch (reason) {
          out[i] = { status: 'rejected', reason };
        }
      }
    }),
  );
  return out;
}

/**
 * Telegraf inputs.docker: docker (n_containers...), docker_container_cpu/mem/net per running container, tagged
 * container_name, container_image and the swarm service name label (com.docker.swarm.service.name).
 */
/** Previous CPU sample per container: one-shot stats carry no precpu, so usage_percent is our own delta. */
const prevCpu = new Map<string, { total: number; system: number }>();

export async function collectDocker(docker: Docker, timeoutMs: number, stack?: string): Promise<Point[]> {
  const [all, images] = await Promise.all([docker.listContainers({ all: true }), docker.listImages()]);
  // per-container stats only for our stack's tasks (other stacks sharing a node are not ours to report)
  const running = all.filter((c) => c.State === 'running' && (!stack || c.Labels?.['com.docker.stack.namespace'] === stack));
  const points: Point[] = [
    {
      measurement: 'docker',
      tags: {},
      fields: {
        n_containers: int(all.length),
        n_containers_running: int(running.length),
        n_containers_stopped: int(all.filter((c) => c.State === 'exited').length),
        n_containers_paused: int(all.filter((c) => c.State === 'paused').length),
        n_images: int(images.length),
      },
    },
  ];
  const alive = new Set(running.map((c) => c.Id));
  for (const id of prevCpu.keys()) if (!alive.has(id)) prevCpu.delete(id);
  const results = await mapLimit(running, 16, async (c) => {
    // one-shot: answer at once instead of waiting ~1 s for a second sample per container
    const stats = (await Promise.race([
      docker.getContainer(c.Id).stats({ stream: false, 'one-shot': true } as { stream: false }),
      new Promise((_, rej) => setTimeout(() => rej(new Error('docker stats timed out')), timeoutMs).unref()),
    ])) as any;
    const tags: Record<string, string> = {
      container_name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
      container_image: c.Image.split('@')[0],
      container_status: c.State,
    };
    const svc = c.Labels?.[SERVICE_LABEL];
    if (svc) tags[SERVICE_LABEL] = svc;
    const out: Point[] = [];
    const total = stats.cpu_stats?.cpu_usage?.total_usage ?? 0;
    const system = stats.cpu_stats?.system_cpu_usage ?? 0;
    const prev =
      prevCpu.get(c.Id) ??
      (stats.precpu_stats?.system_cpu_usage
        ? { total: stats.precpu_stats.cpu_usage?.total_usage ?? 0, system: stats.precpu_stats.system_cpu_usage }
        : undefined);
    prevCpu.set(c.Id, { total, system });
    const cpuDelta = prev ? total - prev.total : 0;
    const sysDelta = prev ? system - prev.system : 0;
    const ncpu = stats.cpu_stats?.online_cpus ?? stats.cpu_stats?.cpu_usage?.percpu_usage?.length ?? 1;
    out.push({
      measurement: 'docker_container_cpu',
      tags: { ...tags, cpu: 'cpu-total' },
      fields: {
        usage_percent: sysDelta > 0 && cpuDelta >= 0 ? (cpuDelta / sysDelta) * ncpu * 100 : 0,
        usage_total: int(stats.cpu_stats?.cpu_usage?.total_usage ?? 0),
        usage_in_usermode: int(stats.cpu_stats?.cpu_usage?.usage_in_usermode ?? 0),
        usage_in_kernelmode: int(stats.cpu_stats?.cpu_usage?.usage_in_kernelmode ?? 0),
        usage_system: int(stats.cpu_stats?.system_cpu_usage ?? 0),
        throttling_periods: int(stats.cpu_stats?.throttling_data?.periods ?? 0),
        throttling_throttled_periods: int(stats.cpu_stats?.throttling_data?.throttled_periods ?? 0),
      },
    });
    const mem = stats.memory_stats ?? {};
    const cache = mem.stats?.inactive_file ?? mem.stats?.total_inactive_file ?? mem.stats?.cache ?? 0;
    const usage = Math.max(0, (mem.usage ?? 0) - cache);
    const limit = mem.limit ?? 0;
    out.push({
      measurement: 'docker_container_mem',
      tags,
      fields: { usage: int(usage), limit: int(limit), usage_percent: limit > 0 ? (100 * usage) / limit : 0, max_usage: int(mem.max_usage ?? 0) },
    });
    let rx = 0;
    let tx = 0;
    for (const n of Object.values((stats.networks ?? {}) as Record<string, any>)) {
      rx += n.rx_bytes ?? 0;
      tx += n.tx_bytes ?? 0;
    }
    out.push({ measurement: 'docker_container_net', tags: { ...tags, network: 'total' }, fields: { rx_bytes: int(rx), tx_bytes: int(tx) } });
    return out;
  });
  for (const r of results) if (r.status === 'fulfilled') points.push(...r.value);
  return points;
}
