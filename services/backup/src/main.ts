// Nightly backup job (docs/REQUIREMENTS.md §4): pg_dump of the current primary at BACKUP_SCHEDULE (default 02:00),
// retention by age (always keeping the newest BACKUP_KEEP_MIN); an attempt longer than BACKUP_TIMEOUT_SECONDS is killed.
// `node dist/main.js --once` runs one backup and exits.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import cron from 'node-cron';
import { createBaseApp, createLogger, createMetrics, installGracefulShutdown, promClient } from '@forum/shared';
import { BackupTimeoutError, applyRetention, runBackup } from './backup.js';
import { loadBackupConfig, pgTarget } from './config.js';

const cfg = loadBackupConfig();
const logger = createLogger('backup', { level: cfg.LOG_LEVEL });
const target = pgTarget(cfg);

let last: { ok: boolean; at: string; file?: string; error?: string } | undefined;
let running = false;

// /metrics: the SLA rule backup_age (configs/alerts/sla-rules.yml) alerts on backup_last_success_age_seconds, which
// metrics-agent scrapes into InfluxDB (the alerter cannot compute now() - timestamp in InfluxQL). The last success
// is seeded from the newest dump on the volume, so a restarted scheduler does not look stale (nor fresh) for lack
// of memory; with no dump at all the age counts from the epoch, i.e. an empty volume alerts at once.
// Trade-off: the age is computed at scrape time, so a scheduler that is down reports nothing and the rule
// closes as "no data"; Swarm restarts it and its healthcheck failures are visible.
const metrics = createMetrics('backup');
const registry = metrics.registry;
let lastSuccessAt = 0; // Unix seconds
new promClient.Gauge({
  name: 'backup_last_success_timestamp_seconds',
  help: 'Unix time the last successful backup finished (0: none on the volume)',
  registers: [registry],
  collect() {
    this.set(lastSuccessAt);
  },
});
new promClient.Gauge({
  name: 'backup_last_success_age_seconds',
  help: 'Seconds since the last successful backup finished',
  registers: [registry],
  collect() {
    this.set(Date.now() / 1000 - lastSuccessAt);
  },
});
const lastDuration = new promClient.Gauge({ name: 'backup_last_duration_seconds', help: 'Duration of the last backup attempt', registers: [registry] });
const lastBytes = new promClient.Gauge({ name: 'backup_last_size_bytes', help: 'Size of the last successful dump', registers: [registry] });
new promClient.Gauge({
  name: 'backup_running',
  help: '1 while a backup runs',
  registers: [registry],
  collect() {
    this.set(running ? 1 : 0);
  },
});
const runs = new promClient.Counter({ name: 'backup_runs_total', help: 'Backup attempts', registers: [registry] });
const failures = new promClient.Counter({
  name: 'backup_failures_total',
  help: 'Backup attempts that failed, by reason (timeout: killed at BACKUP_TIMEOUT_SECONDS)',
  labelNames: ['reason'] as const,
  registers: [registry],
});
for (const reason of ['timeout', 'error']) failures.inc({ reason }, 0);
try {
  const dumps = (await readdir(cfg.BACKUP_DIR)).filter((n) => n.endsWith('.dump')).sort();
  if (dumps.length) lastSuccessAt = (await stat(join(cfg.BACKUP_DIR, dumps[dumps.length - 1]))).mtimeMs / 1000;
} catch {
  // no volume yet: nothing backed up
}

async function backupOnce(): Promise<boolean> {
  if (running) {
    logger.warn('backup already running: skipped');
    return false;
  }
  running = true;
  runs.inc();
  const t0 = Date.now();
  try {
    const m = await runBackup({ target, dir: cfg.BACKUP_DIR, pgBinDir: cfg.PG_BIN_DIR, logger, timeoutMs: cfg.BACKUP_TIMEOUT_SECONDS * 1000 });
    lastSuccessAt = Date.parse(m.finishedAt) / 1000;
    lastBytes.set(m.bytes);
    await applyRetention(cfg.BACKUP_DIR, cfg.BACKUP_RETENTION_DAYS, cfg.BACKUP_KEEP_MIN, logger);
    last = { ok: true, at: m.finishedAt, file: m.file };
    return true;
  } catch (err) {
    const timedOut = err instanceof BackupTimeoutError;
    failures.inc({ reason: timedOut ? 'timeout' : 'error' });
    last = { ok: false, at: new Date().toISOString(), error: (err as Error).message };
    logger.error(
      { err, timeoutSeconds: timedOut ? cfg.BACKUP_TIMEOUT_SECONDS : undefined },
      timedOut ? 'backup failed: timed out, pg_dump killed' : 'backup failed',
    );
    return false;
  } finally {
    lastDuration.set((Date.now() - t0) / 1000);
    running = false;
  }
}

if (process.argv.includes('--once')) {
  process.exit((await backupOnce()) ? 0 : 1);
}

if (!cron.validate(cfg.BACKUP_SCHEDULE)) {
  logger.fatal({ schedule: cfg.BACKUP_SCHEDULE }, 'BACKUP_SCHEDULE is not a valid cron expression');
  process.exit(1);
}
const task = cron.schedule(cfg.BACKUP_SCHEDULE, () => void backupOnce(), { timezone: cfg.BACKUP_TZ });

let isDraining: () => boolean = () => false;
const { app, finish } = createBaseApp({ service: 'backup', logger, metrics, isDraining: () => isDraining() });
app.get('/metrics', metrics.handler);
app.get('/v1/backups/last', (_req, res) => {
  res.json({ schedule: cfg.BACKUP_SCHEDULE, running, last: last ?? null });
});
finish(app);
const server = app.listen(cfg.PORT, () => logger.info({ port: cfg.PORT, schedule: cfg.BACKUP_SCHEDULE }, 'backup scheduler started'));
const sd = installGracefulShutdown([server], { logger, onClose: [() => task.stop()] });
isDraining = sd.isDraining;
