import type Docker from 'dockerode';
import { dockerClient } from '@forum/shared/docker';
import type { FaultKind, FaultResult, ReplicaPoint } from './types.js';

/** Reads replica counts and injects faults through the Docker Engine API (the local socket by default). */
export class DockerProbe {
  readonly docker: Docker;
  constructor(
    readonly stack: string,
    socketPath = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock',
  ) {
    this.docker = dockerClient({ socketPath });
  }

  private short(name: string): string {
    return name.startsWith(`${this.stack}_`) ? name.slice(this.stack.length + 1) : name;
  }

  /** Running tasks per service of the stack, from the Swarm task list. */
  async replicas(t: number): Promise<ReplicaPoint> {
    const services = await this.docker.listServices({ filters: { label: [`com.docker.stack.namespace=${this.stack}`] } });
    const tasks = await this.docker.listTasks({ filters: { 'desired-state': ['running'] } });
    const byId = new Map(services.map((s) => [s.ID, this.short(s.Spec?.Name ?? s.ID)]));
    const counts: Record<string, number> = {};
    for (const name of byId.values()) counts[name] = 0;
    for (const task of tasks) {
      const name = byId.get(task.ServiceID ?? '');
      if (name && task.Status?.State === 'running') counts[name]++;
    }
    return { t, counts };
  }

  /** Running containers of the stack whose service name matches. */
  private async containers(match: (service: string) => boolean): Promise<Array<{ id: string; service: string; name: string }>> {
    const list = await this.docker.listContainers({ filters: { label: [`com.docker.stack.namespace=${this.stack}`], status: ['running'] } });
    return list
      .map((c) => ({ id: c.Id, service: this.short(c.Labels['com.docker.swarm.service.name'] ?? ''), name: (c.Names[0] ?? c.Id).replace(/^\//, '') }))
      .filter((c) => match(c.service));
  }

  private async exec(id: string, script: string): Promise<string> {
    const ex = await this.docker.getContainer(id).exec({ Cmd: ['sh', '-c', script], AttachStdout: true, AttachStderr: true });
    const stream = await ex.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    const out = new (await import('node:stream')).PassThrough();
    out.on('data', (c: Buffer) => chunks.push(c));
    this.docker.modem.demuxStream(stream, out, out);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('exec timed out')), 10_000);
      stream.on('end', () => {
        clearTimeout(timer);
        resolve();
      });
      stream.on('error', (e: Error) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    return Buffer.concat(chunks).toString('utf8').trim();
  }

  /** Finds the container to kill for a fault kind. Role checks run inside the containers, secrets never leave them. */
  async target(kind: FaultKind): Promise<{ id: string; name: string; why: string } | null> {
    if (kind === 'pg-primary') {
      const cands = await this.containers((s) => /^(pg|postgres)(-\d+)?$/.test(s));
      for (const c of cands) {
        const out = await this.exec(
          c.id,
          `export PGPASSWORD="$(cat "\${POSTGRES_PASSWORD_FILE:-/run/secrets/pg_superuser_password}" 2>/dev/null)"; ` +
            `psql -X -U postgres -d postgres -tAc 'select pg_is_in_recovery()' 2>/dev/null || ` +
            `psql -X -h 127.0.0.1 -U postgres -d postgres -tAc 'select pg_is_in_recovery()' 2>/dev/null`,
        ).catch(() => '');
        if (out.split('\n').pop() === 'f') return { ...c, why: `${c.service} is the primary (pg_is_in_recovery = f)` };
      }
      return null;
    }
    if (kind === 'redis-master') {
      const cands = await this.containers((s) => /^redis(-\d+)?$/.test(s));
      for (const c of cands) {
        const out = await this.exec(
          c.id,
          // the password on stdin (--askpass), never in REDISCLI_AUTH: the container's /proc/<pid>/environ would show it
          `redis-cli --askpass --no-auth-warning role <"\${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}" 2>/dev/null | head -n 1`,
        ).catch(() => '');
        if (out === 'master') return { ...c, why: `${c.service} is the master (ROLE = master)` };
      }
      return null;
    }
    const service = kind.startsWith('service:') ? kind.slice('service:'.length) : kind;
    const cands = await this.containers((s) => s === service);
    if (!cands.length) return null;
    const c = cands[Math.floor(Math.random() * cands.length)];
    return { ...c, why: `one of ${cands.length} running ${service} task(s)` };
  }

  /** SIGKILLs the target container: Swarm sees a failed task and the stack must heal itself. */
  async inject(kind: FaultKind, atS: number, firedAtS: number): Promise<FaultResult> {
    try {
      const t = await this.target(kind);
      if (!t) return { kind, atS, firedAtS, ok: false, detail: 'no matching running container' };
      await this.docker.getContainer(t.id).kill({ signal: 'SIGKILL' });
      return { kind, atS, firedAtS, ok: true, detail: `killed ${t.name} (${t.why})` };
    } catch (err) {
      return { kind, atS, firedAtS, ok: false, detail: (err as Error).message };
    }
  }
}
