import { dockerClient } from '@forum/shared/docker';
import { SlackQueue, answerClientErrors, createLogger, installGracefulShutdown } from '@forum/shared';
import { loadAutoscalerConfig } from './config.js';
import { buildApp } from './app.js';
import { RepeatedRefusals, decisionMessage } from './notify.js';
import { loadTargets, type TargetTable } from './rules.js';

const config = loadAutoscalerConfig();
const logger = createLogger('autoscaler');
const docker = dockerClient({ socketPath: config.DOCKER_SOCKET });
let targets: TargetTable = new Map();
if (config.SLA_RULES_FILE) {
  try {
    targets = loadTargets(config.SLA_RULES_FILE);
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'cannot read the SLA rules file');
    process.exit(1);
  }
}
const slack = new SlackQueue(config.SLACK_WEBHOOK_URL, logger, { minIntervalMs: config.SLACK_MIN_INTERVAL_MS });
const repeats = new RepeatedRefusals();

let draining = () => false;
const { app } = buildApp({
  docker,
  logger,
  token: config.AUTOSCALER_TOKEN,
  labelPrefix: config.AUTOSCALE_LABEL_PREFIX,
  stackName: config.STACK_NAME,
  recovery: config.HOOK_RECOVERY_ACTION,
  targetOf: (id) => targets.get(id),
  notify: (d) => {
    if (repeats.shouldPost(d)) void slack.send(decisionMessage(d, config.SLACK_CHANNEL));
  },
  isDraining: () => draining(),
});

const server = app.listen(config.PORT, () => {
  logger.info(
    {
      port: config.PORT,
      rules: [...targets.keys()],
      labelPrefix: config.AUTOSCALE_LABEL_PREFIX,
      stack: config.STACK_NAME ?? null,
      slack: Boolean(config.SLACK_WEBHOOK_URL),
    },
    'autoscaler listening',
  );
});
answerClientErrors(server);
const shutdown = installGracefulShutdown([server], { logger, onClose: [() => slack.drain(4000)] });
draining = shutdown.isDraining;
