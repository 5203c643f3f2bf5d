import snmp from 'net-snmp';
import { int, type FieldValue, type Point } from '@forum/shared/influx';
import { CPU_RAW, OIDS } from './oids.js';

export interface SnmpNode {
  /** Swarm node hostname (or the address when unknown). */
  name: string;
  address: string;
  port: number;
}

export interface SnmpAuth {
  version: '2c' | '3';
  community?: string;
  v3?: { user: string; authProtocol?: 'md5' | 'sha'; authKey?: string; privProtocol?: 'des' | 'aes'; privKey?: string };
}

export interface PollResult {
  node: SnmpNode;
  ok: boolean;
  error?: string;
  ms: number;
  point?: Point;
}

function session(node: SnmpNode, auth: SnmpAuth, timeoutMs: number, retries: number) {
  const opts = { port: node.port, timeout: timeoutMs, retries, version: auth.version === '3' ? snmp.Version3 : snmp.Version2c };
  if (auth.version === '3' && auth.v3) {
    const level = auth.v3.privKey ? snmp.SecurityLevel.authPriv : auth.v3.authKey ? snmp.SecurityLevel.authNoPriv : snmp.SecurityLevel.noAuthNoPriv;
    return snmp.createV3Session(
      node.address,
      {
        name: auth.v3.user,
        level,
        authProtocol: auth.v3.authProtocol === 'md5' ? snmp.AuthProtocols.md5 : snmp.AuthProtocols.sha,
        authKey: auth.v3.authKey,
        privProtocol: auth.v3.privProtocol === 'des' ? snmp.PrivProtocols.des : snmp.PrivProtocols.aes,
        privKey: auth.v3.privKey,
      },
      opts,
    );
  }
  return snmp.createSession(node.address, auth.community ?? 'public', opts);
}

/** Previous raw CPU counters per node, for cpu_used_percent. */
export type CpuState = Map<string, number[]>;

function addDerived(node: SnmpNode, fields: Record<string, FieldValue>, cpu?: CpuState): void {
  const total = Number(fields.memTotalReal);
  const avail = Number(fields.memAvailReal);
  if (total > 0 && Number.isFinite(avail)) fields.mem_used_percent = (100 * (total - avail)) / total;
  if (!cpu || CPU_RAW.some((k) => fields[k] === undefined)) return;
  const now = CPU_RAW.map((k) => Number(fields[k]));
  const prev = cpu.get(`${node.address}:${node.port}`);
  cpu.set(`${node.address}:${node.port}`, now);
  if (!prev) return;
  // Counter32 wrap-around
  const d = now.map((v, i) => (v >= prev[i] ? v - prev[i] : v + 2 ** 32 - prev[i]));
  const sum = d.reduce((a, b) => a + b, 0);
  if (sum > 0) fields.cpu_used_percent = (100 * (sum - d[CPU_RAW.indexOf('ssCpuRawIdle')])) / sum;
}

/** Polls one node for every OID in one GET; resolves (never rejects) with the point or the error. */
export function pollNode(node: SnmpNode, auth: SnmpAuth, timeoutMs: number, retries = 1, cpu?: CpuState): Promise<PollResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    let s: ReturnType<typeof session>;
    let settled = false;
    const finish = (r: Omit<PollResult, 'ms' | 'node'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(hard);
      try {
        s?.close();
      } catch {
        /* already closed */
      }
      resolve({ node, ms: Date.now() - started, ...r });
    };
    // a hard stop above the library's own timeout x retries, so one slow agent never stalls the batch
    const hard = setTimeout(() => finish({ ok: false, error: `timed out after ${timeoutMs * (retries + 1)} ms` }), timeoutMs * (retries + 1) + 500);
    try {
      s = session(node, auth, timeoutMs, retries);
      s.on('error', (err) => finish({ ok: false, error: err?.message ?? 'snmp session error' }));
      const names = Object.keys(OIDS);
      s.get(Object.values(OIDS), (err, varbinds) => {
        if (err) return finish({ ok: false, error: err.message });
        const fields: Record<string, FieldValue> = {};
        const tags: Record<string, string> = { agent_host: node.address, node: node.name };
        varbinds.forEach((vb, i) => {
          if (snmp.isVarbindError(vb)) return;
          const name = names[i];
          const v = vb.value;
          if (name === 'sysName') tags.hostname = String(v);
          else if (Buffer.isBuffer(v)) fields[name] = v.toString();
          else if (typeof v === 'number' || typeof v === 'bigint') fields[name] = int(v);
        });
        if (Object.keys(fields).length === 0) return finish({ ok: false, error: 'agent answered without any of the polled OIDs (view too narrow?)' });
        addDerived(node, fields, cpu);
        finish({ ok: true, point: { measurement: 'snmp', tags, fields } });
      });
    } catch (err) {
      finish({ ok: false, error: (err as Error).message });
    }
  });
}

/**
 * Polls every node in parallel and returns ONE batch: an `snmp` point per answering node plus an `snmp_status`
 * point per node (up 0/1, response time, error) so unreachable nodes are reported without stopping the others.
 */
export async function pollAll(
  nodes: SnmpNode[],
  auth: SnmpAuth,
  timeoutMs: number,
  retries = 1,
  cpu?: CpuState,
): Promise<{ points: Point[]; results: PollResult[] }> {
  const now = new Date();
  const results = await Promise.all(nodes.map((n) => pollNode(n, auth, timeoutMs, retries, cpu)));
  const points: Point[] = [];
  for (const r of results) {
    if (r.point) points.push({ ...r.point, timestamp: now });
    points.push({
      measurement: 'snmp_status',
      tags: { agent_host: r.node.address, node: r.node.name },
      fields: { up: int(r.ok ? 1 : 0), response_ms: r.ms, ...(r.error ? { error: r.error } : {}) },
      timestamp: now,
    });
  }
  return { points, results };
}
