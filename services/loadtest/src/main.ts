// Library entry (the CLI is src/cli.ts).
export { run, DEFAULTS, type RunOptions } from './engine.js';
export { htmlReport, textReport, table4, lineChart } from './report.js';
export { evaluateSla } from './sla.js';
export { pickAction, isAuthUser, MIX, ACTIONS } from './scenario.js';
export { Histogram } from './histogram.js';
export type { Summary } from './types.js';
