import { int, type Point } from '@forum/shared/influx';

/**
 * Cumulative NGINX response counters per container (from the access log), written to InfluxDB as measurement
 * `nginx_responses` (int fields total, status_2xx..status_5xx; tags host, instance, container_name) so the
 * NGINX error-rate rule of sla-rules.yml has a source: stub_status has no status codes.
 */
export class ResponseCounters {
  private counts = new Map<string, { host: string; container: string; c: Record<string, number> }>();

  count(containerId: string, container: string, host: string, status: number): void {
    let e = this.counts.get(containerId);
    if (!e) {
      e = { host, container, c: { total: 0, status_1xx: 0, status_2xx: 0, status_3xx: 0, status_4xx: 0, status_5xx: 0 } };
      this.counts.set(containerId, e);
    }
    e.c.total += 1;
    const cls = `status_${Math.floor(status / 100)}xx`;
    if (cls in e.c) e.c[cls] += 1;
  }

  forget(containerId: string): void {
    this.counts.delete(containerId);
  }

  points(now = new Date()): Point[] {
    return [...this.counts.values()].map((e) => ({
      measurement: 'nginx_responses',
      tags: { host: e.host, instance: `nginx@${e.container}`, container_name: e.container, swarm_service: 'nginx' },
      fields: Object.fromEntries(Object.entries(e.c).map(([k, v]) => [k, int(v)])),
      timestamp: now,
    }));
  }
}
