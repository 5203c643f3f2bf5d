/**
 * Evaluates the SLA rules against InfluxDB and keeps one state (OK / WARNING / CRITICAL) per rule and tag set.
 * A level is entered when the value passes its threshold and left only when the value is back past
 * threshold*(1-h) (op ">") or threshold*(1+h) (op "<"): a value hovering at a threshold does not flap.
 */
import type { InfluxQLSeries, InfluxV1 } from '@forum/shared/influx';
import type { Logger } from '@forum/shared';
import { promClient } from '@forum/shared';
import { durationMs, renderQuery, type LoadedRules, type Rule } from './rules.js';

export type Level = 'OK' | 'WARNING' | 'CRITICAL';
const LEVEL_NUM: Record<Level, number> = { OK: 0, WARNING: 1, CRITICAL: 2 };

/** The next level of a rule given the previous one and the new value (hysteresis on the way down). */
export function nextLevel(prev: Level, v: number, rule: Pick<Rule, 'op' | 'warn' | 'crit' | 'hysteresis'>): Level {
  const h = rule.hysteresis;
  const above = (th: number) => (rule.op === '>' ? v > th : v < th);
  const cleared = (th: number) => (rule.op === '>' ? v <= th * (1 - h) : v >= th * (1 + h));
  if (rule.crit !== undefined) {
    if (above(rule.crit)) return 'CRITICAL';
    if (prev === 'CRITICAL' && !cleared(rule.crit)) return 'CRITICAL';
  }
  if (above(rule.warn)) return 'WARNING';
  if (prev !== 'OK' && !cleared(rule.warn)) return 'WARNING';
  return 'OK';
}

export function reduce(values: number[], how: Rule['reduce']): number | undefined {
  if (values.length === 0) return undefined;
  switch (how) {
    case 'max':
      return Math.max(...values);
    case 'min':
      return Math.min(...values);
    case 'last':
      return values[values.length - 1];
    default:
      return values.reduce((a, b) => a + b, 0) / values.length;
  }
}

export interface GroupValue {
  tags: Record<string, string>;
  value: number;
}

export interface Transition {
  rule: Rule;
  key: string;
  tags: Record<string, string>;
  value: number;
  level: Level;
  previousLevel: Level;
  /** when the previous level began */
  since: Date;
  at: Date;
  /** "no data" when the series disappeared */
  note?: string;
}

interface GroupState {
  level: Level;
  since: Date;
  value: number;
  tags: Record<string, string>;
  missing: number;
  /** scale rules: when a still-firing alert may be posted to the autoscaler again */
  nextScalePostAt?: number;
}

export interface EvaluatorOptions {
  influx: InfluxV1;
  rules: LoadedRules;
  logger: Logger;
  registry: promClient.Registry;
  /** Slack + (scale rules) autoscaler; returns when a still-firing scale alert may be posted again */
  onTransition: (t: Transition) => Promise<number | undefined>;
  /** scale rules still in alert after their repost time: post again (the autoscaler decides) */
  onSustained?: (t: Transition) => Promise<number | undefined>;
  /** evaluations a tag set may be missing before its alert is closed as "no data" */
  missingLimit?: number;
}

const keyOf = (tags: Record<string, string>) =>
  Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`)
    .join(',');

export class Evaluator {
  readonly states = new Map<string, Map<string, GroupState>>();
  private readonly lastRun = new Map<string, number>();
  private readonly lastError = new Map<string, string>();
  private readonly levelGauge: promClient.Gauge<'rule' | 'group'>;
  private readonly transitions: promClient.Counter<'rule' | 'level'>;
  private readonly errors: promClient.Counter<'rule'>;
  private readonly evaluations: promClient.Counter<'rule'>;
  private readonly missingLimit: number;

  constructor(private readonly o: EvaluatorOptions) {
    this.missingLimit = o.missingLimit ?? 3;
    this.levelGauge = new promClient.Gauge({
      name: 'alerter_rule_level',
      help: 'Alert level per rule and tag set (0 OK, 1 WARNING, 2 CRITICAL)',
      labelNames: ['rule', 'group'] as const,
      registers: [o.registry],
    });
    this.transitions = new promClient.Counter({
      name: 'alerter_transitions_total',
      help: 'Alert level changes by rule and new level',
      labelNames: ['rule', 'level'] as const,
      registers: [o.registry],
    });
    this.errors = new promClient.Counter({
      name: 'alerter_query_errors_total',
      help: 'Failed rule queries',
      labelNames: ['rule'] as const,
      registers: [o.registry],
    });
    this.evaluations = new promClient.Counter({
      name: 'alerter_evaluations_total',
      help: 'Rule evaluations',
      labelNames: ['rule'] as const,
      registers: [o.registry],
    });
  }

  private series(q: string): Promise<InfluxQLSeries[]> {
    return this.o.influx.query(q, this.o.rules.database);
  }

  private async reduceExpr(rule: Rule, expr: { select: string; where?: string }): Promise<Map<string, GroupValue>> {
    const q = renderQuery(rule, expr, this.o.rules.database, this.o.rules.retentionPolicy);
    const out = new Map<string, GroupValue>();
    for (const s of await this.series(q)) {
      const col = s.columns.indexOf('value');
      const values = s.values.map((row) => row[col]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      const v = reduce(values, rule.reduce);
      if (v === undefined) continue;
      const tags = s.tags ?? {};
      out.set(keyOf(tags), { tags, value: v });
    }
    return out;
  }

  /** The current value of a rule per tag set. */
  async values(rule: Rule): Promise<Map<string, GroupValue>> {
    if ('select' in rule.value) return this.reduceExpr(rule, rule.value);
    const { numerator, denominator } = rule.value.ratio;
    const scale = rule.value.scale ?? 1;
    const [num, den] = await Promise.all([this.reduceExpr(rule, numerator), this.reduceExpr(rule, denominator)]);
    const out = new Map<string, GroupValue>();
    for (const [key, d] of den) {
      const n = num.get(key)?.value ?? 0;
      out.set(key, { tags: d.tags, value: d.value === 0 ? 0 : (scale * n) / d.value });
    }
    return out;
  }

  /** One evaluation round: every rule whose `every` has elapsed. Errors of one rule never stop the others. */
  async tick(now = Date.now()): Promise<{ evaluated: number; failed: number }> {
    let evaluated = 0;
    let failed = 0;
    for (const rule of this.o.rules.rules) {
      const last = this.lastRun.get(rule.id);
      if (last !== undefined && now - last < durationMs(rule.every) - 500) continue;
      this.lastRun.set(rule.id, now);
      try {
        await this.evaluate(rule, await this.values(rule), new Date(now));
        this.evaluations.inc({ rule: rule.id });
        evaluated++;
        if (this.lastError.delete(rule.id)) this.o.logger.info({ rule: rule.id }, 'rule query works again');
      } catch (err) {
        failed++;
        this.errors.inc({ rule: rule.id });
        const msg = (err as Error).message;
        // log a failure once until it changes (InfluxDB down would otherwise log every rule every round)
        if (this.lastError.get(rule.id) !== msg) this.o.logger.warn({ rule: rule.id, err: msg }, 'rule query failed');
        else this.o.logger.debug({ rule: rule.id, err: msg }, 'rule query still failing');
        this.lastError.set(rule.id, msg);
      }
    }
    return { evaluated, failed };
  }

  private async evaluate(rule: Rule, current: Map<string, GroupValue>, at: Date): Promise<void> {
    let groups = this.states.get(rule.id);
    if (!groups) this.states.set(rule.id, (groups = new Map()));
    for (const [key, { tags, value }] of current) {
      const st = groups.get(key) ?? { level: 'OK' as Level, since: at, value, tags, missing: 0 };
      groups.set(key, st);
      st.missing = 0;
      st.value = value;
      const level = nextLevel(st.level, value, rule);
      this.levelGauge.set({ rule: rule.id, group: key || 'all' }, LEVEL_NUM[level]);
      if (level !== st.level) {
        const t: Transition = { rule, key, tags, value, level, previousLevel: st.level, since: st.since, at };
        st.level = level;
        st.since = at;
        await this.fire(t, st);
      } else if (level !== 'OK' && rule.scale && this.o.onSustained && st.nextScalePostAt !== undefined && at.getTime() >= st.nextScalePostAt) {
        const t: Transition = { rule, key, tags, value, level, previousLevel: level, since: st.since, at };
        st.nextScalePostAt = await this.o.onSustained(t);
      }
    }
    for (const [key, st] of groups) {
      if (current.has(key)) continue;
      st.missing++;
      if (st.missing < this.missingLimit) continue;
      groups.delete(key);
      this.levelGauge.remove({ rule: rule.id, group: key || 'all' });
      if (st.level !== 'OK') {
        await this.fire({ rule, key, tags: st.tags, value: st.value, level: 'OK', previousLevel: st.level, since: st.since, at, note: 'no data' }, st);
      }
    }
  }

  private async fire(t: Transition, st: GroupState): Promise<void> {
    this.transitions.inc({ rule: t.rule.id, level: t.level });
    this.o.logger.info(
      { event: 'alert_transition', rule: t.rule.id, group: t.key, value: t.value, level: t.level, previousLevel: t.previousLevel, note: t.note },
      `${t.rule.id} ${t.previousLevel} -> ${t.level}`,
    );
    try {
      st.nextScalePostAt = await this.o.onTransition(t);
    } catch (err) {
      this.o.logger.warn({ rule: t.rule.id, err: (err as Error).message }, 'transition notification failed');
    }
  }

  /** Current non-OK alerts and every rule's groups, for GET /v1/alerts. */
  snapshot() {
    return this.o.rules.rules.map((rule) => ({
      id: rule.id,
      service: rule.service,
      op: rule.op,
      warn: rule.warn,
      crit: rule.crit ?? null,
      scale: rule.scale ?? null,
      groups: [...(this.states.get(rule.id) ?? new Map<string, GroupState>()).entries()].map(([key, s]) => ({
        group: key,
        level: s.level,
        value: s.value,
        since: s.since.toISOString(),
      })),
    }));
  }
}
