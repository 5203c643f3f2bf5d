import { readFile, readdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { int, type FieldValue, type Point } from '@forum/shared/influx';

/**
 * Host metrics from the node's /proc and /sys (mounted read-only at HOST_PROC / HOST_SYS, Telegraf's convention),
 * in Telegraf's cpu, mem, disk, diskio, net, netstat, system, processes schema.
 */
export class HostCollector {
  private prevCpu = new Map<string, number[]>();
  constructor(
    private readonly proc = '/proc',
    private readonly diskPaths: string[] = ['/'],
  ) {}

  private read(rel: string): Promise<string> {
    return readFile(join(this.proc, rel), 'utf8');
  }

  async collect(): Promise<Point[]> {
    const parts = await Promise.allSettled([this.cpu(), this.mem(), this.disk(), this.diskio(), this.net(), this.netstat(), this.system(), this.processes()]);
    return parts.flatMap((p) => (p.status === 'fulfilled' ? p.value : []));
  }

  async cpu(): Promise<Point[]> {
    const out: Point[] = [];
    const names = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guest_nice'];
    for (const line of (await this.read('stat')).split('\n')) {
      const m = /^(cpu\d*)\s+(.*)$/.exec(line);
      if (!m) continue;
      const cpu = m[1] === 'cpu' ? 'cpu-total' : m[1];
      const v = m[2].trim().split(/\s+/).map(Number);
      const prev = this.prevCpu.get(cpu);
      this.prevCpu.set(cpu, v);
      if (!prev) continue;
      // guest time is already counted in user/nice (like Telegraf, exclude it from the total)
      const total = (a: number[]) => a.slice(0, 8).reduce((s, x) => s + (x || 0), 0);
      const dt = total(v) - total(prev);
      if (dt <= 0) continue;
      const fields: Record<string, FieldValue> = {};
      names.forEach((n, i) => (fields[`usage_${n}`] = (100 * ((v[i] || 0) - (prev[i] || 0))) / dt));
      out.push({ measurement: 'cpu', tags: { cpu }, fields });
    }
    return out;
  }

  async mem(): Promise<Point[]> {
    const kv: Record<string, number> = {};
    for (const line of (await this.read('meminfo')).split('\n')) {
      const m = /^(\S+):\s+(\d+)(\s+kB)?/.exec(line);
      if (m) kv[m[1]] = Number(m[2]) * (m[3] ? 1024 : 1);
    }
    const total = kv.MemTotal;
    const available = kv.MemAvailable ?? kv.MemFree + (kv.Cached ?? 0) + (kv.Buffers ?? 0);
    const used = total - available;
    return [
      {
        measurement: 'mem',
        tags: {},
        fields: {
          total: int(total),
          available: int(available),
          used: int(used),
          free: int(kv.MemFree),
          cached: int(kv.Cached ?? 0),
          buffered: int(kv.Buffers ?? 0),
          active: int(kv.Active ?? 0),
          inactive: int(kv.Inactive ?? 0),
          swap_total: int(kv.SwapTotal ?? 0),
          swap_free: int(kv.SwapFree ?? 0),
          used_percent: (100 * used) / total,
          available_percent: (100 * available) / total,
        },
      },
    ];
  }

  async disk(): Promise<Point[]> {
    const mounts = (await this.read('self/mounts').catch(() => '')).split('\n').map((l) => l.split(' '));
    const out: Point[] = [];
    for (const path of this.diskPaths) {
      try {
        const s = await statfs(path);
        const m = mounts.filter((x) => x[1] === path).pop();
        const total = s.blocks * s.bsize;
        const free = s.bavail * s.bsize;
        const used = (s.blocks - s.bfree) * s.bsize;
        out.push({
          measurement: 'disk',
          tags: { path, device: (m?.[0] ?? 'unknown').replace(/^\/dev\//, ''), fstype: m?.[2] ?? 'unknown', mode: m?.[3]?.startsWith('ro') ? 'ro' : 'rw' },
          fields: {
            total: int(total),
            free: int(free),
            used: int(used),
            used_percent: used + free > 0 ? (100 * used) / (used + free) : 0,
            inodes_total: int(s.files),
            inodes_free: int(s.ffree),
            inodes_used: int(s.files - s.ffree),
          },
        });
      } catch {
        /* a missing path is skipped */
      }
    }
    return out;
  }

  async diskio(): Promise<Point[]> {
    const out: Point[] = [];
    for (const line of (await this.read('diskstats')).split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 14) continue;
      const name = f[2];
      if (/^(loop|ram|dm-|sr)/.test(name)) continue;
      const n = f.map(Number);
      out.push({
        measurement: 'diskio',
        tags: { name },
        fields: {
          reads: int(n[3]),
          read_bytes: int(n[5] * 512),
          read_time: int(n[6]),
          writes: int(n[7]),
          write_bytes: int(n[9] * 512),
          write_time: int(n[10]),
          io_time: int(n[12]),
          weighted_io_time: int(n[13]),
          iops_in_progress: int(n[11]),
        },
      });
    }
    return out;
  }

  async net(): Promise<Point[]> {
    // pid 1's view is the node's network namespace when the host /proc is mounted
    const text = await this.read('1/net/dev').catch(() => this.read('net/dev'));
    const out: Point[] = [];
    for (const line of text.split('\n').slice(2)) {
      const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
      if (!m || m[1] === 'lo') continue;
      const n = m[2].trim().split(/\s+/).map(Number);
      out.push({
        measurement: 'net',
        tags: { interface: m[1] },
        fields: {
          bytes_recv: int(n[0]),
          packets_recv: int(n[1]),
          err_in: int(n[2]),
          drop_in: int(n[3]),
          bytes_sent: int(n[8]),
          packets_sent: int(n[9]),
          err_out: int(n[10]),
          drop_out: int(n[11]),
        },
      });
    }
    return out;
  }

  async netstat(): Promise<Point[]> {
    const states: Record<string, string> = {
      '01': 'tcp_established',
      '02': 'tcp_syn_sent',
      '03': 'tcp_syn_recv',
      '04': 'tcp_fin_wait1',
      '05': 'tcp_fin_wait2',
      '06': 'tcp_time_wait',
      '07': 'tcp_close',
      '08': 'tcp_close_wait',
      '09': 'tcp_last_ack',
      '0A': 'tcp_listen',
      '0B': 'tcp_closing',
    };
    const fields: Record<string, FieldValue> = {};
    for (const name of Object.values(states)) fields[name] = int(0);
    let udp = 0;
    for (const f of ['tcp', 'tcp6']) {
      const text = await this.read(`1/net/${f}`).catch(() => this.read(`net/${f}`).catch(() => ''));
      for (const line of text.split('\n').slice(1)) {
        const st = line.trim().split(/\s+/)[3];
        const name = st && states[st];
        if (name) fields[name] = int((fields[name] as unknown as number) + 1);
      }
    }
    for (const f of ['udp', 'udp6']) {
      const text = await this.read(`1/net/${f}`).catch(() => this.read(`net/${f}`).catch(() => ''));
      udp += text
        .split('\n')
        .slice(1)
        .filter((l) => l.trim()).length;
    }
    fields.udp_socket = int(udp);
    return [{ measurement: 'netstat', tags: {}, fields }];
  }

  async system(): Promise<Point[]> {
    const load = (await this.read('loadavg')).trim().split(/\s+/).map(Number);
    const uptime = Number((await this.read('uptime')).split(/\s+/)[0]);
    const stat = await this.read('stat');
    const ncpu = stat.split('\n').filter((l) => /^cpu\d+/.test(l)).length;
    return [
      {
        measurement: 'system',
        tags: {},
        fields: { load1: load[0], load5: load[1], load15: load[2], n_cpus: int(ncpu), n_users: int(0), uptime: int(Math.floor(uptime)) },
      },
    ];
  }

  async processes(): Promise<Point[]> {
    const counts: Record<string, number> = { running: 0, sleeping: 0, stopped: 0, zombies: 0, blocked: 0, idle: 0, dead: 0, paging: 0, unknown: 0 };
    let threads = 0;
    const entries = (await readdir(this.proc)).filter((e) => /^\d+$/.test(e));
    for (const pid of entries) {
      try {
        const s = await this.read(`${pid}/stat`);
        const after = s.slice(s.lastIndexOf(')') + 2).split(' ');
        const st = after[0];
        threads += Number(after[17]) || 0;
        const key = { R: 'running', S: 'sleeping', T: 'stopped', t: 'stopped', Z: 'zombies', D: 'blocked', I: 'idle', X: 'dead', W: 'paging' }[st] ?? 'unknown';
        counts[key] += 1;
      } catch {
        /* the process exited meanwhile */
      }
    }
    const fields: Record<string, FieldValue> = { total: int(entries.length), total_threads: int(threads) };
    for (const [k, v] of Object.entries(counts)) fields[k] = int(v);
    return [{ measurement: 'processes', tags: {}, fields }];
  }
}
