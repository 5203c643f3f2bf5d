#!/usr/bin/env node
// npm run loadtest -- [options]   (see docs/LOADTEST.md)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS, InterruptedBeforeLoad, run, type RunOptions } from './engine.js';
import { htmlReport, textReport } from './report.js';
import { caFileFor, DEFAULT_CA_FILE } from './tls.js';
import type { FaultKind, FaultSpec } from './types.js';

const HELP = `forum load test: the SPEC §2 scenario against the Misago-dialect API through the edge

Usage: npm run loadtest -- [options]
  --target URL           edge URL (default https://127.0.0.1:\${EDGE_HTTPS_PORT:-443}; env EDGE_URL)
                         an https edge's certificate is checked against Node's CAs and the stack's local CA
                         (secrets/generate.sh): env EDGE_TLS_CA, else ${DEFAULT_CA_FILE} when it exists
  --users N              simulated users (default ${DEFAULTS.users})
  --ramp N               new users per second (default ${DEFAULTS.rampRate})
  --think S              seconds between one user's operations (default ${DEFAULTS.thinkTimeS})
  --duration S           measured run in seconds, e.g. 900 or 15m (default ${DEFAULTS.durationS})
  --seed-threads N       threads that exist before the run (default ${DEFAULTS.seedThreads})
  --accounts N           accounts created beforehand (default: the logged-in users, max ${DEFAULTS.maxAccounts})
  --user-prefix P        account name prefix (default ${DEFAULTS.userPrefix})
  --category ID          category for new threads (default: first the editor allows)
  --report PATH          report path prefix; writes PATH.json, PATH.html, PATH.txt
                         (default reports/loadtest-<timestamp>)
  --fault KIND@SECOND    inject a fault (repeatable): pg-primary, redis-master, api, nginx, service:<name>
  --stack NAME           Swarm stack to sample and fault (default ${DEFAULTS.stack})
  --no-docker            do not read replicas / inject faults through the Docker API
  --connections N        keep-alive connections to the edge (default ${DEFAULTS.connections})
  --timeout S            per-request timeout (default ${DEFAULTS.timeoutS})
  --progress S           progress line every S seconds (default ${DEFAULTS.progressS})
  --interval S           chart resolution in seconds (default ${DEFAULTS.intervalS})
  --random-seed N        PRNG seed for a reproducible action sequence (default ${DEFAULTS.randomSeed})
Ctrl-C (SIGINT) or SIGTERM stops the run early: the report covers what ran so far (marked interrupted), then the
exit code is 130 (143 for SIGTERM); a second Ctrl-C quits at once. Stopped while seeding, no load ran: no report.
Exit code: 0 when the SLA holds, 2 when it does not, 1 on an error, 130/143 when stopped.`;

function seconds(v: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new Error(`--${name}: expected a duration like 90, 90s, 15m (got "${v}")`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : n;
}

function int(v: string | undefined, name: string, def: number, min = 1): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer >= ${min} (got "${v}")`);
  return n;
}

export function parseFault(v: string): FaultSpec {
  const m = /^(pg-primary|redis-master|api|nginx|service:[a-z0-9_.-]+)@(.+)$/i.exec(v.trim());
  if (!m) throw new Error(`--fault: expected KIND@SECOND with KIND pg-primary|redis-master|api|nginx|service:<name> (got "${v}")`);
  return { kind: m[1] as FaultKind, atS: seconds(m[2], 'fault') };
}

export function parseOptions(argv: string[]): { opts: RunOptions; report: string } | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string' },
      users: { type: 'string' },
      ramp: { type: 'string' },
      think: { type: 'string' },
      duration: { type: 'string' },
      'seed-threads': { type: 'string' },
      accounts: { type: 'string' },
      'user-prefix': { type: 'string' },
      category: { type: 'string' },
      report: { type: 'string' },
      fault: { type: 'string', multiple: true },
      stack: { type: 'string' },
      'no-docker': { type: 'boolean' },
      connections: { type: 'string' },
      timeout: { type: 'string' },
      progress: { type: 'string' },
      interval: { type: 'string' },
      'random-seed': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return null;
  const defaultTarget = process.env.EDGE_HTTPS_PORT ? `https://127.0.0.1:${process.env.EDGE_HTTPS_PORT}` : DEFAULTS.target;
  const target = (values.target ?? process.env.EDGE_URL ?? defaultTarget).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+$/.test(target)) throw new Error(`--target: expected http(s)://host[:port] (got "${target}")`);
  const ramp = values.ramp === undefined ? DEFAULTS.rampRate : Number(values.ramp);
  if (!(ramp > 0)) throw new Error(`--ramp: expected a positive number (got "${values.ramp}")`);
  const opts: RunOptions = {
    ...DEFAULTS,
    target,
    caFile: target.startsWith('https:') ? caFileFor() : undefined,
    users: int(values.users, 'users', DEFAULTS.users),
    rampRate: ramp,
    thinkTimeS: values.think ? seconds(values.think, 'think') : DEFAULTS.thinkTimeS,
    durationS: values.duration ? seconds(values.duration, 'duration') : DEFAULTS.durationS,
    seedThreads: int(values['seed-threads'], 'seed-threads', DEFAULTS.seedThreads),
    accounts: values.accounts === undefined ? undefined : int(values.accounts, 'accounts', 1),
    userPrefix: values['user-prefix'] ?? DEFAULTS.userPrefix,
    category: values.category === undefined ? undefined : int(values.category, 'category', 1),
    faults: (values.fault ?? []).map(parseFault),
    stack: values.stack ?? DEFAULTS.stack,
    docker: !values['no-docker'],
    connections: int(values.connections, 'connections', DEFAULTS.connections),
    timeoutS: values.timeout ? seconds(values.timeout, 'timeout') : DEFAULTS.timeoutS,
    progressS: values.progress ? seconds(values.progress, 'progress') : DEFAULTS.progressS,
    intervalS: values.interval ? seconds(values.interval, 'interval') : DEFAULTS.intervalS,
    randomSeed: int(values['random-seed'], 'random-seed', DEFAULTS.randomSeed, 0),
  };
  if (!/^[A-Za-z0-9]{1,8}$/.test(opts.userPrefix))
    throw new Error(`--user-prefix: 1-8 latin letters or digits (Misago usernames are alphanumeric, at most 14 long)`);
  if (opts.thinkTimeS <= 0 || opts.durationS <= 0) throw new Error('--think and --duration must be positive');
  for (const f of opts.faults) if (f.atS >= opts.durationS) throw new Error(`--fault ${f.kind}@${f.atS}: the run ends at ${opts.durationS} s`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return { opts, report: values.report ?? `reports/loadtest-${stamp}` };
}

export function writeReports(prefix: string, summary: Awaited<ReturnType<typeof run>>): string[] {
  const base = resolve(prefix.replace(/\.(json|html|txt)$/, ''));
  mkdirSync(dirname(base), { recursive: true });
  const files = [`${base}.json`, `${base}.html`, `${base}.txt`];
  writeFileSync(files[0], JSON.stringify(summary, null, 2));
  writeFileSync(files[1], htmlReport(summary));
  writeFileSync(files[2], `${textReport(summary)}\n`);
  return files;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}\n`);
    return 1;
  }
  if (!parsed) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const { opts, report } = parsed;
  // Ctrl-C ends the run like its duration would (drain, summary, report); a second one quits without a report.
  const stop = new AbortController();
  const codes: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };
  let stopCode = 0;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stop.signal.aborted) {
        process.stderr.write(`${sig} again: quitting without a report\n`);
        process.exit(codes[sig]);
      }
      stopCode = codes[sig];
      process.stderr.write(`${sig}: stopping; writing the report of what ran so far (${sig} again quits at once)\n`);
      stop.abort(sig);
    });
  }
  let summary;
  try {
    summary = await run({ ...opts, signal: stop.signal });
  } catch (err) {
    if (err instanceof InterruptedBeforeLoad) {
      process.stderr.write(`${err.message}\n`);
      return stopCode;
    }
    throw err;
  }
  process.stdout.write(`\n${textReport(summary)}\n`);
  const files = writeReports(report, summary);
  process.stdout.write(`\nreports: ${files.join(', ')}\n`);
  if (summary.interrupted) return stopCode;
  return summary.sla.pass ? 0 : 2;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`load test failed: ${err.message}\n`);
      process.exit(1);
    },
  );
}
