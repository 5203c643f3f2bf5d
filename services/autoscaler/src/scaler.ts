/**
 * The decision engine: reads a service from the Swarm, applies its label policy (opt-in, bounds, cooldown)
 * and changes its replicas with ONE `service update` that carries the Swarm version index and also writes the
 * cooldown state labels. Two racing updates (two requests, two autoscaler replicas) cannot both succeed: the
 * loser gets "update out of sequence", re-reads the service, finds the fresh state label and is refused by
 * the cooldown. The state lives in the Swarm (raft store), so it survives autoscaler restarts.
 */
import type Docker from 'dockerode';
import type { Logger } from '@forum/shared';
import { promClient } from '@forum/shared';
import {
  cooldownLeftMs,
  isEnabled,
  parseLastChange,
  parsePolicy,
  stateLabels,
  targetReplicas,
  type Direction,
  type LastChange,
  type Policy,
} from './policy.js';
import type { Intent } from './hooks.js';

export type Outcome = 'scaled' | 'refused' | 'rejected' | 'failed' | 'ignored';

export interface Decision {
  outcome: Outcome;
  /** machine code: scaled, cooldown, at_max, at_min, not_opted_in, unknown_service, ... */
  code: string;
  /** HTTP status the direct endpoint answers with */
  status: number;
  detail: string;
  service: string;
  direction: Direction;
  reason: string;
  source: string;
  from?: number;
  to?: number;
  min?: number;
  max?: number;
  cooldownSeconds?: number;
  changedAt?: string;
  nextAllowedAt?: string;
  retryAfterSeconds?: number;
}

export interface ServiceView {
  service: string;
  id: string;
  replicas: number | null;
  runningTasks: number | null;
  policy: Policy | null;
  problems: string[];
  lastChange: (Omit<LastChange, 'at'> & { at: string }) | null;
  cooldownLeftSeconds: number;
  nextAllowedAt: string | null;
}

export interface ScalerOptions {
  docker: Docker;
  logger: Logger;
  labelPrefix: string;
  /** the stack namespace: "api" is looked up as "<stack>_api" first */
  stackName?: string;
  registry: promClient.Registry;
  notify: (d: Decision) => void;
  maxAttempts?: number;
  now?: () => number;
}

interface DockerErr {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  message?: string;
}

const isOutOfSequence = (e: DockerErr) => /out of sequence/i.test(e.json?.message ?? '') || /out of sequence/i.test(e.message ?? '');

export class Scaler {
  private readonly decisions: promClient.Counter<'target' | 'direction' | 'outcome' | 'code'>;
  private readonly conflicts: promClient.Counter<'target'>;
  private readonly maxAttempts: number;
  private readonly now: () => number;

  constructor(private readonly o: ScalerOptions) {
    this.maxAttempts = o.maxAttempts ?? 8;
    this.now = o.now ?? Date.now;
    this.decisions = new promClient.Counter({
      name: 'autoscaler_decisions_total',
      help: 'Scaling decisions by target service, direction, outcome (scaled|refused|rejected|failed|ignored) and code',
      labelNames: ['target', 'direction', 'outcome', 'code'] as const,
      registers: [o.registry],
    });
    this.conflicts = new promClient.Counter({
      name: 'autoscaler_update_conflicts_total',
      help: 'Swarm "update out of sequence" conflicts that were retried',
      labelNames: ['target'] as const,
      registers: [o.registry],
    });
  }

  /** Counts and logs a request that never became a decision (malformed body etc.). */
  countInvalid(source: string, code: string, detail: string): void {
    this.decisions.inc({ target: 'none', direction: 'none', outcome: 'invalid', code });
    this.o.logger.info({ event: 'autoscale_decision', source, outcome: 'invalid', code, detail }, 'autoscale request rejected');
  }

  /** Looks a service up by name, "<stack>_<name>" first. Undefined when it does not exist. */
  async find(name: string): Promise<{ id: string; info: ServiceInfo } | undefined> {
    const stack = this.o.stackName;
    const candidates = stack && !name.startsWith(`${stack}_`) ? [`${stack}_${name}`, name] : [name];
    for (const c of candidates) {
      try {
        const info = (await this.o.docker.getService(c).inspect()) as ServiceInfo;
        // inspect also matches ID prefixes: insist on the exact name
        if (info.Spec?.Name === c) return { id: info.ID, info };
      } catch (err) {
        if ((err as DockerErr).statusCode === 404) continue;
        throw err;
      }
    }
    return undefined;
  }

  /** Applies one intent. Never throws: every path ends in a logged, counted, notified decision. */
  async decide(intent: Intent, source: string): Promise<Decision> {
    const base = { service: intent.service, direction: intent.direction, reason: intent.reason, source };
    let d: Decision;
    if (intent.ignore) {
      d = { ...base, outcome: 'ignored', code: 'ignored', status: 200, detail: intent.ignore };
    } else {
      try {
        d = await this.apply(intent, source);
      } catch (err) {
        const e = err as DockerErr;
        const unreachable = e.code === 'ECONNREFUSED' || e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'ETIMEDOUT';
        d = {
          ...base,
          outcome: 'failed',
          code: unreachable ? 'docker_unavailable' : 'docker_error',
          status: unreachable ? 503 : 502,
          detail: `the Docker API failed: ${e.json?.message ?? e.message ?? String(err)}`,
        };
      }
    }
    this.record(d);
    return d;
  }

  private record(d: Decision): void {
    const known = d.code !== 'unknown_service';
    this.decisions.inc({ target: known ? d.service : 'unknown', direction: d.direction, outcome: d.outcome, code: d.code });
    const line = {
      event: 'autoscale_decision',
      outcome: d.outcome,
      code: d.code,
      target: d.service, // `service` is the logger's own name
      direction: d.direction,
      from: d.from,
      to: d.to,
      reason: d.reason,
      source: d.source,
      nextAllowedAt: d.nextAllowedAt,
    };
    if (d.outcome === 'failed') this.o.logger.error(line, d.detail);
    else this.o.logger.info(line, d.detail);
    if (d.outcome !== 'ignored') this.o.notify(d);
  }

  private async apply(intent: Intent, source: string): Promise<Decision> {
    const names = stateLabels(this.o.labelPrefix);
    for (let attempt = 1; ; attempt++) {
      const found = await this.find(intent.service);
      const base = { direction: intent.direction, reason: intent.reason, source };
      if (!found) {
        return {
          ...base,
          service: intent.service,
          outcome: 'rejected',
          code: 'unknown_service',
          status: 404,
          detail: `no Swarm service named ${JSON.stringify(intent.service)}${this.o.stackName ? ` (nor ${this.o.stackName}_${intent.service})` : ''}.`,
        };
      }
      const { info } = found;
      const service = info.Spec.Name;
      const labels = info.Spec.Labels ?? {};
      const b = { ...base, service };
      if (!isEnabled(labels, this.o.labelPrefix)) {
        return {
          ...b,
          outcome: 'rejected',
          code: 'not_opted_in',
          status: 403,
          detail: `${service} has not opted in to autoscaling (service label ${this.o.labelPrefix}.enabled=true).`,
        };
      }
      const { policy, problems } = parsePolicy(labels, this.o.labelPrefix);
      if (!policy) {
        return { ...b, outcome: 'rejected', code: 'policy_invalid', status: 422, detail: `${service} has invalid autoscale labels: ${problems.join('; ')}.` };
      }
      const replicated = info.Spec.Mode?.Replicated;
      if (!replicated) {
        return {
          ...b,
          outcome: 'rejected',
          code: 'not_replicated',
          status: 422,
          detail: `${service} is not a replicated service; only replicated services can be scaled.`,
        };
      }
      const current = replicated.Replicas ?? 1;
      const withPolicy = { ...b, from: current, min: policy.min, max: policy.max, cooldownSeconds: policy.cooldownSeconds };
      const last = parseLastChange(labels, this.o.labelPrefix);
      const now = this.now();
      const left = cooldownLeftMs(last, policy, now);
      if (last && left > 0) {
        const next = new Date(now + left);
        const retryAfterSeconds = Math.ceil(left / 1000);
        return {
          ...withPolicy,
          outcome: 'refused',
          code: 'cooldown',
          status: 409,
          changedAt: last.at.toISOString(),
          nextAllowedAt: next.toISOString(),
          retryAfterSeconds,
          detail: `${service} was changed at ${last.at.toISOString()} (${last.direction ?? '?'} ${last.from ?? '?'}->${last.to ?? '?'}); cooldown ${policy.cooldownSeconds} s: it may be scaled again at ${next.toISOString()} (in ${retryAfterSeconds} s).`,
        };
      }
      const target = targetReplicas(current, intent.direction, policy);
      if (target === current) {
        const atMax = intent.direction === 'up';
        return {
          ...withPolicy,
          to: current,
          outcome: 'refused',
          code: atMax ? 'at_max' : 'at_min',
          status: 409,
          detail: atMax
            ? `${service} already runs ${current} replicas, its maximum (${this.o.labelPrefix}.max=${policy.max}).`
            : `${service} already runs ${current} replicas, its minimum (${this.o.labelPrefix}.min=${policy.min}).`,
        };
      }
      const changedAt = new Date(now);
      const spec = structuredClone(info.Spec);
      spec.Mode = { Replicated: { Replicas: target } };
      spec.Labels = {
        ...labels,
        [names.changedAt]: changedAt.toISOString(),
        [names.direction]: intent.direction,
        [names.from]: String(current),
        [names.to]: String(target),
        [names.reason]: intent.reason.replace(/[\r\n]+/g, ' ').slice(0, 200),
      };
      try {
        await this.o.docker.getService(info.ID).update({ _query: { version: info.Version.Index }, _body: spec });
      } catch (err) {
        if (isOutOfSequence(err as DockerErr) && attempt < this.maxAttempts) {
          // someone else changed the service since we read it: re-read and decide again
          this.conflicts.inc({ target: service });
          this.o.logger.debug({ service, attempt }, 'update out of sequence, re-reading the service');
          await new Promise((r) => setTimeout(r, 20 + Math.random() * 50 * attempt));
          continue;
        }
        throw err;
      }
      const next = new Date(now + policy.cooldownSeconds * 1000);
      return {
        ...withPolicy,
        to: target,
        outcome: 'scaled',
        code: 'scaled',
        status: 200,
        changedAt: changedAt.toISOString(),
        nextAllowedAt: next.toISOString(),
        detail: `${service} scaled ${intent.direction} from ${current} to ${target} replicas (bounds ${policy.min}..${policy.max}); next change allowed at ${next.toISOString()}.`,
      };
    }
  }

  /** Every opted-in service with its policy, replicas and cooldown. */
  async list(): Promise<ServiceView[]> {
    const services = (await this.o.docker.listServices({
      filters: JSON.stringify({ label: [`${this.o.labelPrefix}.enabled`] }),
      status: true,
    } as never)) as unknown as ServiceInfo[];
    return services
      .filter((s) => isEnabled(s.Spec.Labels, this.o.labelPrefix))
      .map((s) => this.view(s))
      .sort((a, b) => a.service.localeCompare(b.service));
  }

  async get(name: string): Promise<ServiceView | undefined> {
    const found = await this.find(name);
    return found ? this.view(found.info) : undefined;
  }

  private view(s: ServiceInfo): ServiceView {
    const { policy, problems } = parsePolicy(s.Spec.Labels, this.o.labelPrefix);
    const last = parseLastChange(s.Spec.Labels, this.o.labelPrefix);
    const left = policy ? cooldownLeftMs(last, policy, this.now()) : 0;
    return {
      service: s.Spec.Name,
      id: s.ID,
      replicas: s.Spec.Mode?.Replicated?.Replicas ?? null,
      runningTasks: s.ServiceStatus?.RunningTasks ?? null,
      policy: policy ?? null,
      problems: isEnabled(s.Spec.Labels, this.o.labelPrefix) ? problems : [`${this.o.labelPrefix}.enabled is not true`, ...problems],
      lastChange: last ? { ...last, at: last.at.toISOString() } : null,
      cooldownLeftSeconds: Math.ceil(left / 1000),
      nextAllowedAt: left > 0 ? new Date(this.now() + left).toISOString() : null,
    };
  }
}

/** The parts of Docker's ServiceInspect answer we use. */
export interface ServiceInfo {
  ID: string;
  Version: { Index: number };
  Spec: {
    Name: string;
    Labels?: Record<string, string>;
    Mode?: { Replicated?: { Replicas?: number }; Global?: object; ReplicatedJob?: object; GlobalJob?: object };
    [k: string]: unknown;
  };
  ServiceStatus?: { RunningTasks?: number; DesiredTasks?: number };
}
