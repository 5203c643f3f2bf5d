import type { Logger, SlackMessage } from '@forum/shared';
import type { InfluxV1 } from '@forum/shared/influx';
import type { Transition } from './evaluator.js';

const COLOUR = { OK: 'good', WARNING: 'warning', CRITICAL: 'danger' } as const;

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

function groupText(tags: Record<string, string>): string {
  const parts = Object.entries(tags)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}=${v}`);
  return parts.length ? ` [${parts.join(' ')}]` : '';
}

function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

/** The alert text (Kapacitor-like): level, rule, tag set, value against the thresholds. */
export function transitionText(t: Transition): string {
  const r = t.rule;
  const thresholds = `warning ${r.op} ${r.warn}${r.crit !== undefined ? `, critical ${r.op} ${r.crit}` : ''}`;
  const what = r.description || r.id;
  if (t.level === 'OK') {
    const how = t.note ? `no data` : `back to ${fmt(t.value)} ${r.unit}`.trim();
    return `:white_check_mark: OK ${r.id}${groupText(t.tags)}: ${what}: ${how} (was ${t.previousLevel} for ${humanDuration(t.at.getTime() - t.since.getTime())}; ${thresholds})`;
  }
  const icon = t.level === 'CRITICAL' ? ':rotating_light:' : ':warning:';
  const scale = r.scale ? ` -> autoscaler: ${r.scale.service} ${r.scale.direction}` : '';
  return `${icon} ${t.level} ${r.id}${groupText(t.tags)}: ${what} is ${fmt(t.value)} ${r.unit} (${thresholds})${scale}`.replace(/ +\(/g, ' (');
}

export function transitionMessage(t: Transition, channel?: string): SlackMessage {
  return {
    text: transitionText(t),
    color: COLOUR[t.level],
    fields: { rule: t.rule.id, service: t.rule.service, level: t.level, previous: t.previousLevel, value: fmt(t.value) },
    ...(channel ? { channel } : {}),
  };
}

/** The Kapacitor alert body (docs/REQUIREMENTS.md §7), so the autoscaler treats the alerter like Kapacitor. */
export function kapacitorBody(t: Transition) {
  return {
    id: t.rule.id,
    // Kapacitor's message is plain text (no Slack emoji): the autoscaler quotes it as the decision's reason
    message: transitionText(t).replace(/^:[a-z_]+: /, ''),
    details: '',
    time: t.at.toISOString(),
    duration: (t.at.getTime() - t.since.getTime()) * 1_000_000,
    level: t.level,
    previousLevel: t.previousLevel,
    recoverable: true,
    data: { series: [{ name: t.rule.measurement, tags: t.tags, columns: ['time', 'value'], values: [[t.at.toISOString(), t.value]] }] },
  };
}

export interface ScalePostResult {
  ok: boolean;
  status?: number;
  decisions?: Array<{ outcome: string; code: string; nextAllowedAt?: string; detail?: string }>;
}

/**
 * Posts a scale rule's alert to the autoscaler's Kapacitor hook, naming the target explicitly
 * (?service=&direction=), and returns when a still-firing alert may be posted again: the autoscaler's
 * nextAllowedAt, else the rules file's cooldown; 30 s after a failed post; never again in this alert episode when
 * the service is already at its bound.
 */
export async function postToAutoscaler(
  hookUrl: string,
  token: string | undefined,
  t: Transition,
  cooldownSeconds: number,
  logger: Logger,
): Promise<{ result: ScalePostResult; nextPostAt: number }> {
  const scale = t.rule.scale!;
  const url = new URL(hookUrl);
  url.searchParams.set('service', scale.service);
  url.searchParams.set('direction', scale.direction);
  const now = Date.now();
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(kapacitorBody(t)),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json().catch(() => ({}))) as { decisions?: ScalePostResult['decisions']; detail?: string };
    const result: ScalePostResult = { ok: res.ok, status: res.status, decisions: body.decisions };
    logger.info(
      { event: 'autoscaler_post', rule: t.rule.id, level: t.level, status: res.status, decisions: body.decisions, detail: body.detail },
      'posted to the autoscaler',
    );
    // at a bound, re-posting the same alert only repeats the refusal: wait for the alert's next transition
    if (body.decisions?.length && body.decisions.every((d) => d.code === 'at_max' || d.code === 'at_min')) {
      return { result, nextPostAt: Number.POSITIVE_INFINITY };
    }
    const next = body.decisions?.map((d) => (d.nextAllowedAt ? Date.parse(d.nextAllowedAt) : NaN)).find((n) => Number.isFinite(n));
    return { result, nextPostAt: next !== undefined && next > now ? next : now + cooldownSeconds * 1000 };
  } catch (err) {
    logger.warn({ rule: t.rule.id, err: (err as Error).message }, 'autoscaler unreachable');
    return { result: { ok: false }, nextPostAt: now + 30_000 };
  }
}

/** Chronograf's alert history (`SELECT host, value, level, alertName FROM alerts` in db chronograf). */
export async function writeHistory(influx: InfluxV1, db: string, t: Transition, logger: Logger): Promise<void> {
  try {
    await influx.write(
      [
        {
          measurement: 'alerts',
          tags: { alertName: t.rule.id, level: t.level, triggerType: 'threshold', host: t.tags.host ?? t.tags.agent_host ?? t.tags.instance ?? 'alerter' },
          fields: { value: t.value, message: transitionText(t) },
          timestamp: t.at,
        },
      ],
      db,
    );
  } catch (err) {
    logger.warn({ db, err: (err as Error).message }, 'cannot write the alert history');
  }
}
