import { InfluxV1 } from '@forum/shared/influx';
import { SlackQueue, asyncHandler, createBaseApp, createLogger, createMetrics, installGracefulShutdown } from '@forum/shared';
import { loadAlerterConfig } from './config.js';
import { loadRules, overridesSchema, type LoadedRules } from './rules.js';
import { Evaluator } from './evaluator.js';
import { postToAutoscaler, transitionMessage, writeHistory } from './notify.js';

const config = loadAlerterConfig();
const logger = createLogger('alerter');
const metrics = createMetrics('alerter');
const disabled = Boolean(config.KAPACITOR_URL);

let rules: LoadedRules;
try {
  const overrides = overridesSchema.parse(JSON.parse(config.RULE_OVERRIDES.trim() || '{}'));
  rules = loadRules(config.SLA_RULES_FILE, overrides);
} catch (err) {
  logger.fatal({ err: (err as Error).message, file: config.SLA_RULES_FILE }, 'cannot load the SLA rules');
  process.exit(1);
}

const url = new URL(config.INFLUX_URL);
const database = config.INFLUX_DB ?? rules.database;
if (config.INFLUX_DB) rules = { ...rules, database };
const influx = new InfluxV1({ url: config.INFLUX_URL, username: config.INFLUX_USER, password: config.INFLUX_PASSWORD, timeoutMs: 10_000 });
const slack = new SlackQueue(config.SLACK_WEBHOOK_URL, logger, { minIntervalMs: config.SLACK_MIN_INTERVAL_MS });
const channel = config.SLACK_CHANNEL ?? rules.slackChannel;
const hookUrl = config.AUTOSCALER_URL ? new URL('/v1/hooks/kapacitor', config.AUTOSCALER_URL).toString() : rules.autoscalerUrl;

const evaluator = new Evaluator({
  influx,
  rules,
  logger,
  registry: metrics.registry,
  onTransition: async (t) => {
    if (t.rule.notify.includes('slack')) await slack.send(transitionMessage(t, channel));
    if (config.ALERT_HISTORY_DB) await writeHistory(influx, config.ALERT_HISTORY_DB, t, logger);
    if (t.rule.scale && t.rule.notify.includes('autoscaler') && hookUrl) {
      const { nextPostAt } = await postToAutoscaler(hookUrl, config.AUTOSCALER_TOKEN, t, rules.cooldownSeconds, logger);
      return t.level === 'OK' ? undefined : nextPostAt;
    }
    return undefined;
  },
  onSustained: async (t) => {
    if (!hookUrl || !t.rule.notify.includes('autoscaler')) return undefined;
    return (await postToAutoscaler(hookUrl, config.AUTOSCALER_TOKEN, t, rules.cooldownSeconds, logger)).nextPostAt;
  },
});

// InfluxDB itself unreachable is an alert too: the alerter exists so that alerts work without the monitoring VM
let failedRounds = 0;
let influxDown = false;
async function round(): Promise<void> {
  const { evaluated, failed } = await evaluator.tick();
  if (evaluated === 0 && failed > 0) failedRounds++;
  else if (evaluated > 0) failedRounds = 0;
  if (!influxDown && failedRounds >= 3) {
    influxDown = true;
    logger.error({ influx: config.INFLUX_URL }, 'InfluxDB unreachable: SLA rules cannot be evaluated');
    await slack.send({
      text: `:rotating_light: CRITICAL alerter: InfluxDB at ${url.host} does not answer; SLA rules are not evaluated`,
      color: 'danger',
      ...(channel ? { channel } : {}),
    });
  } else if (influxDown && failedRounds === 0) {
    influxDown = false;
    logger.info('InfluxDB reachable again');
    await slack.send({ text: `:white_check_mark: OK alerter: InfluxDB at ${url.host} answers again`, color: 'good', ...(channel ? { channel } : {}) });
  }
}

let timer: NodeJS.Timeout | undefined;
let stopped = false;
const intervalMs = config.EVAL_INTERVAL_SECONDS * 1000;
async function loop(): Promise<void> {
  const started = Date.now();
  try {
    await round();
  } catch (err) {
    logger.error({ err }, 'evaluation round failed');
  }
  if (!stopped) timer = setTimeout(() => void loop(), Math.max(0, intervalMs - (Date.now() - started)));
}

let draining = () => false;
const { app, finish } = createBaseApp({
  service: 'alerter',
  logger,
  metrics,
  isDraining: () => draining(),
  checks: disabled ? {} : { influxdb: () => influx.ping(2000) },
});
app.get('/metrics', metrics.handler);
app.get(
  '/v1/alerts',
  asyncHandler(async (_req, res) => {
    res.json({
      disabled,
      reason: disabled ? `KAPACITOR_URL is set (${config.KAPACITOR_URL}): Kapacitor evaluates the rules` : null,
      rules: disabled ? [] : evaluator.snapshot(),
    });
  }),
);
finish(app);

const server = app.listen(config.PORT, () => {
  if (disabled) {
    logger.info({ kapacitor: config.KAPACITOR_URL }, 'alerter disabled: an external Kapacitor evaluates the SLA rules');
    return;
  }
  logger.info(
    {
      port: config.PORT,
      rules: rules.rules.length,
      influx: config.INFLUX_URL,
      database,
      autoscaler: hookUrl ?? null,
      intervalSeconds: config.EVAL_INTERVAL_SECONDS,
    },
    'alerter evaluating SLA rules',
  );
  void loop();
});
const shutdown = installGracefulShutdown([server], {
  logger,
  onClose: [
    () => {
      stopped = true;
      clearTimeout(timer);
    },
  ],
});
draining = shutdown.isDraining;
