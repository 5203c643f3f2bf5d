/**
 * The scaling policy of a service comes from its Swarm service labels (docker-stack.yml `deploy.labels`):
 *   <prefix>.enabled=true  opt-in (nothing else is ever scaled)
 *   <prefix>.min           lower bound, >= 1 (default 1)
 *   <prefix>.max           upper bound, >= min (required)
 *   <prefix>.step          replicas added/removed per decision (default 1)
 *   <prefix>.cooldown      seconds between two changes of the service ("300", "300s", "5m"; default 300)
 * The autoscaler's own state lives in labels of the same service, written in the same update as the replica change:
 *   <prefix>.state.changed-at (ISO time), .direction, .from, .to, .reason
 */
import { DEFAULT_AUTOSCALE_COOLDOWN_SECONDS } from '@forum/shared/sla-rules';

export type Direction = 'up' | 'down';

export interface Policy {
  min: number;
  max: number;
  step: number;
  cooldownSeconds: number;
}

export interface LastChange {
  at: Date;
  direction?: string;
  from?: number;
  to?: number;
  reason?: string;
}

export const DEFAULT_STEP = 1;
export const DEFAULT_MIN = 1;

export function stateLabels(prefix: string) {
  return {
    changedAt: `${prefix}.state.changed-at`,
    direction: `${prefix}.state.direction`,
    from: `${prefix}.state.from`,
    to: `${prefix}.state.to`,
    reason: `${prefix}.state.reason`,
  };
}

export function isEnabled(labels: Record<string, string> | undefined, prefix: string): boolean {
  const v = labels?.[`${prefix}.enabled`]?.trim().toLowerCase();
  return v === 'true' || v === '1' || v === 'yes';
}

const INT = /^\d{1,6}$/;

/** Seconds from "300", "300s", "5m", "1h". */
export function parseDuration(raw: string): number | undefined {
  const m = /^(\d{1,7})\s*(s|m|h)?$/i.exec(raw.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? 's').toLowerCase();
  return unit === 'h' ? n * 3600 : unit === 'm' ? n * 60 : n;
}

/** Reads the policy labels; returns every problem at once so a misconfigured stack file is fixed in one go. */
export function parsePolicy(labels: Record<string, string> | undefined, prefix: string): { policy?: Policy; problems: string[] } {
  const l = labels ?? {};
  const problems: string[] = [];
  const int = (key: string, def: number | undefined): number | undefined => {
    const raw = l[`${prefix}.${key}`];
    if (raw === undefined || raw.trim() === '') {
      if (def === undefined) problems.push(`label ${prefix}.${key} is required`);
      return def;
    }
    if (!INT.test(raw.trim())) {
      problems.push(`label ${prefix}.${key}=${JSON.stringify(raw)} is not a whole number`);
      return def;
    }
    return Number(raw.trim());
  };
  const min = int('min', DEFAULT_MIN);
  const max = int('max', undefined);
  const step = int('step', DEFAULT_STEP);
  let cooldownSeconds: number | undefined = DEFAULT_AUTOSCALE_COOLDOWN_SECONDS;
  const rawCooldown = l[`${prefix}.cooldown`];
  if (rawCooldown !== undefined && rawCooldown.trim() !== '') {
    cooldownSeconds = parseDuration(rawCooldown);
    if (cooldownSeconds === undefined) problems.push(`label ${prefix}.cooldown=${JSON.stringify(rawCooldown)} is not a duration (e.g. 300, 300s, 5m)`);
  }
  if (min !== undefined && min < 1) problems.push(`label ${prefix}.min must be >= 1 (got ${min})`);
  if (min !== undefined && max !== undefined && max < min) problems.push(`label ${prefix}.max (${max}) must be >= ${prefix}.min (${min})`);
  if (step !== undefined && step < 1) problems.push(`label ${prefix}.step must be >= 1 (got ${step})`);
  if (problems.length > 0 || min === undefined || max === undefined || step === undefined || cooldownSeconds === undefined) {
    return { problems };
  }
  return { policy: { min, max, step, cooldownSeconds }, problems };
}

export function parseLastChange(labels: Record<string, string> | undefined, prefix: string): LastChange | undefined {
  const names = stateLabels(prefix);
  const raw = labels?.[names.changedAt];
  if (!raw) return undefined;
  const at = new Date(raw);
  if (Number.isNaN(at.getTime())) return undefined;
  const num = (v: string | undefined) => (v !== undefined && INT.test(v) ? Number(v) : undefined);
  return {
    at,
    direction: labels?.[names.direction],
    from: num(labels?.[names.from]),
    to: num(labels?.[names.to]),
    reason: labels?.[names.reason],
  };
}

/** The replica count a decision would set: one step towards the bound, never past it; `current` when already at (or beyond) it. */
export function targetReplicas(current: number, direction: Direction, policy: Policy): number {
  if (direction === 'up') return current >= policy.max ? current : Math.min(policy.max, current + policy.step);
  return current <= policy.min ? current : Math.max(policy.min, current - policy.step);
}

/** Milliseconds until the cooldown ends (0 when it may act now). */
export function cooldownLeftMs(last: LastChange | undefined, policy: Policy, now: number): number {
  if (!last) return 0;
  return Math.max(0, last.at.getTime() + policy.cooldownSeconds * 1000 - now);
}
