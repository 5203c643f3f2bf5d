import type { Point } from '@forum/shared/influx';

export type TargetKind = 'stub_status' | 'redis' | 'postgresql' | 'haproxy' | 'pgpool' | 'prometheus';

export interface Target {
  kind: TargetKind;
  /** Swarm service short name (stack prefix removed), e.g. "api". */
  service: string;
  /** Task address (IP) on a network the agent shares. */
  address: string;
  port: number;
  path?: string;
}

export interface Credentials {
  redisUser?: string;
  redisPassword?: string;
  pgUser?: string;
  pgPassword?: string;
  pgDatabase?: string;
}

export interface CollectContext {
  timeoutMs: number;
  creds: Credentials;
}

export type Collector = (t: Target, ctx: CollectContext) => Promise<Point[]>;

/** The per-replica identity every point carries: service type + task address. */
export const instanceOf = (t: Target): string => `${t.service}@${t.address}:${t.port}`;

export async function fetchText(url: string, timeoutMs: number): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!r.ok) throw new Error(`GET ${url} -> HTTP ${r.status}`);
  return r.text();
}
