// monitoring-provision is a CLI (src/cli.ts); this module exports its building blocks.
export { loadRules, allRules } from './rules.js';
export { build, files } from './generate.js';
export { tickscript, kapacitorTask } from './tick.js';
export { bruteforceWatch } from './watcher.js';
export { provision } from './provision.js';
