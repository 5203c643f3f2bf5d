import type { Artifacts } from './generate.js';
import { autoscalerHook, subst } from './edge.js';
import { ILM_POLICY } from './retention.js';

export interface Targets {
  influx?: string;
  kapacitor?: string;
  es?: string;
  kibana?: string;
  chronograf?: string;
}
export interface Secrets {
  slackWebhookUrl?: string;
  ipblockToken?: string;
  autoscalerToken?: string;
  esUser?: string;
  esPassword?: string;
}
export interface Options {
  /** the edge as the VM reaches it (http://<edge-host>): every webhook goes through its /ops/... routes */
  edgeUrl?: string;
  /** Kapacitor's httppost target; defaults to <edgeUrl>/ops/autoscaler/v1/hooks/kapacitor */
  autoscalerUrl?: string;
  slackChannel: string;
  influxDb: string;
  /** InfluxDB URL as Chronograf/Kapacitor see it (defaults to --influx). */
  influxUrlForChronograf?: string;
  timeoutMs?: number;
}
export interface StepResult {
  target: keyof Targets;
  step: string;
  ok: boolean;
  detail?: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what} -> HTTP ${status}: ${body.slice(0, 300)}`);
  }
}

async function call(
  base: string,
  method: string,
  path: string,
  opts: { json?: unknown; body?: BodyInit; headers?: Record<string, string>; timeoutMs?: number; allow?: number[] } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  const url = new URL(path, base.endsWith('/') ? base : `${base}/`);
  const r = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(opts.timeoutMs ?? 15000) });
  const text = await r.text();
  if (!r.ok && !(opts.allow ?? []).includes(r.status)) throw new HttpError(r.status, text, `${method} ${url.pathname}`);
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: r.status, body: parsed };
}

/** Installs everything on the targets given; every step is idempotent (re-running updates in place). */
export async function provision(a: Artifacts, t: Targets, s: Secrets, o: Options): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const step = async (target: keyof Targets, name: string, fn: () => Promise<string | void>) => {
    try {
      const detail = await fn();
      results.push({ target, step: name, ok: true, ...(detail ? { detail } : {}) });
    } catch (err) {
      results.push({ target, step: name, ok: false, detail: (err as Error).message });
    }
  };
  const timeoutMs = o.timeoutMs;

  const needEdge = (what: string): string => {
    if (!o.edgeUrl) throw new Error(`${what} goes through the edge: give --edge-url https://<edge-host> (or EDGE_URL)`);
    // the webhooks carry bearer tokens: the edge answers plain HTTP only with a redirect, and a token sent there has
    // already crossed the network in clear
    if (!/^https:\/\//i.test(o.edgeUrl)) throw new Error(`${what} sends a bearer token: --edge-url must be the edge's https:// URL, not ${o.edgeUrl}`);
    return o.edgeUrl.replace(/\/+$/, '');
  };

  if (t.influx) {
    // databases + retention (retention.days of sla-rules.yml); InfluxDB 1.x answers 200 with an error inside
    for (const q of a.influxRetention) {
      await step('influx', q, async () => {
        const r = await call(t.influx!, 'POST', `query?q=${encodeURIComponent(q)}`, { timeoutMs });
        const err = (r.body?.results ?? []).find((x: { error?: string }) => x.error)?.error;
        if (err) throw new Error(err);
      });
    }
  }

  if (t.kapacitor) {
    const k = t.kapacitor;
    if (s.slackWebhookUrl) {
      await step('kapacitor', 'config slack', async () => {
        await call(k, 'POST', 'kapacitor/v1/config/slack/', {
          json: { set: { enabled: true, url: s.slackWebhookUrl, channel: o.slackChannel, global: false, 'state-changes-only': true } },
          timeoutMs,
        });
      });
    }
    await step('kapacitor', 'config httppost autoscaler', async () => {
      const url = o.autoscalerUrl ?? autoscalerHook('kapacitor', needEdge('the Kapacitor -> autoscaler post'));
      const headers = s.autoscalerToken ? { Authorization: `Bearer ${s.autoscalerToken}` } : {};
      const added = await call(k, 'POST', 'kapacitor/v1/config/httppost', {
        json: { add: { endpoint: 'autoscaler', url, headers } },
        timeoutMs,
        allow: [400, 409],
      });
      if (added.status >= 400) {
        await call(k, 'POST', 'kapacitor/v1/config/httppost/autoscaler', { json: { set: { url, headers } }, timeoutMs });
        return 'updated';
      }
      return 'added';
    });
    const wanted = new Set(a.tasks.map((x) => x.id));
    for (const task of a.tasks) {
      await step('kapacitor', `task ${task.id}`, async () => {
        const got = await call(k, 'GET', `kapacitor/v1/tasks/${task.id}`, { timeoutMs, allow: [404] });
        if (got.status === 404) {
          await call(k, 'POST', 'kapacitor/v1/tasks', { json: task, timeoutMs });
          return 'created';
        }
        await call(k, 'PATCH', `kapacitor/v1/tasks/${task.id}`, {
          json: { type: task.type, dbrps: task.dbrps, script: task.script, status: 'enabled' },
          timeoutMs,
        });
        return 'updated';
      });
    }
    await step('kapacitor', 'remove stale sla_* tasks', async () => {
      const list = await call(k, 'GET', 'kapacitor/v1/tasks?pattern=sla_*&fields=id&limit=1000', { timeoutMs });
      const stale = ((list.body?.tasks ?? []) as Array<{ id: string }>).map((x) => x.id).filter((id) => id.startsWith('sla_') && !wanted.has(id));
      for (const id of stale) await call(k, 'DELETE', `kapacitor/v1/tasks/${id}`, { timeoutMs, allow: [404] });
      return stale.length ? `removed ${stale.join(', ')}` : 'none';
    });
  }

  if (t.es) {
    const auth: Record<string, string> = s.esUser ? { Authorization: `Basic ${Buffer.from(`${s.esUser}:${s.esPassword ?? ''}`).toString('base64')}` } : {};
    await step('es', 'ingest pipeline forum-logs', async () => {
      await call(t.es!, 'PUT', '_ingest/pipeline/forum-logs', { json: a.pipeline, headers: auth, timeoutMs });
    });
    await step('es', `ILM policy ${ILM_POLICY}`, async () => {
      await call(t.es!, 'PUT', `_ilm/policy/${ILM_POLICY}`, { json: a.ilmPolicy, headers: auth, timeoutMs });
    });
    await step('es', 'index template filebeat-forum', async () => {
      await call(t.es!, 'PUT', '_index_template/filebeat-forum', { json: a.indexTemplate, headers: auth, timeoutMs });
    });
    await step('es', 'watch login-bruteforce', async () => {
      const missing = [!s.ipblockToken && 'ipblock token', !s.slackWebhookUrl && 'Slack webhook URL'].filter(Boolean);
      if (missing.length) throw new Error(`the watcher needs ${missing.join(' and ')} (--ipblock-token-file, --slack-webhook-file)`);
      const body = JSON.parse(
        subst(JSON.stringify(a.watch), {
          EDGE_URL: needEdge('the watcher -> ipblock webhook'),
          IPBLOCK_TOKEN: s.ipblockToken,
          SLACK_WEBHOOK_URL: s.slackWebhookUrl,
        }),
      );
      await call(t.es!, 'PUT', '_watcher/watch/login-bruteforce?active=true', { json: body, headers: auth, timeoutMs });
    });
  }

  if (t.kibana) {
    await step('kibana', 'saved objects import', async () => {
      const form = new FormData();
      form.append('file', new Blob([a.kibana], { type: 'application/ndjson' }), 'forum-saved-objects.ndjson');
      const auth: Record<string, string> = s.esUser ? { Authorization: `Basic ${Buffer.from(`${s.esUser}:${s.esPassword ?? ''}`).toString('base64')}` } : {};
      const r = await call(t.kibana!, 'POST', 'api/saved_objects/_import?overwrite=true', { body: form, headers: { 'kbn-xsrf': 'true', ...auth }, timeoutMs });
      if (r.body?.success !== true) throw new Error(`import reported errors: ${JSON.stringify(r.body?.errors ?? r.body).slice(0, 300)}`);
      return `${r.body.successCount} objects`;
    });
  }

  if (t.chronograf) {
    const c = t.chronograf;
    const influxUrl = o.influxUrlForChronograf ?? t.influx;
    let sourceId: string | undefined;
    if (influxUrl) {
      await step('chronograf', 'source (InfluxDB)', async () => {
        const list = await call(c, 'GET', 'chronograf/v1/sources', { timeoutMs });
        const found = ((list.body?.sources ?? []) as Array<{ id: string; url: string }>).find((x) => x.url === influxUrl);
        if (found) {
          sourceId = String(found.id);
          return 'exists';
        }
        const r = await call(c, 'POST', 'chronograf/v1/sources', {
          json: { name: 'forum InfluxDB', url: influxUrl, type: 'influx', default: true, telegraf: o.influxDb },
          timeoutMs,
        });
        sourceId = String(r.body?.id);
        return 'created';
      });
      if (sourceId && t.kapacitor) {
        await step('chronograf', 'kapacitor link', async () => {
          const list = await call(c, 'GET', `chronograf/v1/sources/${sourceId}/kapacitors`, { timeoutMs });
          if (((list.body?.kapacitors ?? []) as Array<{ url: string }>).some((x) => x.url === t.kapacitor)) return 'exists';
          await call(c, 'POST', `chronograf/v1/sources/${sourceId}/kapacitors`, {
            json: { name: 'forum kapacitor', url: t.kapacitor, active: true },
            timeoutMs,
          });
          return 'created';
        });
      }
    }
    const existing = await call(c, 'GET', 'chronograf/v1/dashboards', { timeoutMs }).then(
      (r) => (r.body?.dashboards ?? []) as Array<{ id: number | string; name: string }>,
      () => [] as Array<{ id: number | string; name: string }>,
    );
    for (const d of a.dashboards) {
      await step('chronograf', `dashboard ${d.name}`, async () => {
        const found = existing.find((x) => x.name === d.name);
        if (found) {
          await call(c, 'PUT', `chronograf/v1/dashboards/${found.id}`, { json: { id: found.id, ...d }, timeoutMs });
          return 'updated';
        }
        await call(c, 'POST', 'chronograf/v1/dashboards', { json: d, timeoutMs });
        return 'created';
      });
    }
  }
  return results;
}
