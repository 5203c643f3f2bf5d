/**
 * @forum/test-support: what the test suites of every workspace and of test/ share (docs/CONVENTIONS.md "Tests":
 * real components started as private processes on free ports, poll with a deadline, clean up what you start).
 * Test-only: a devDependency, loaded from source by tsx, not part of `npm run build` nor of the Node image.
 */
export * from './wait.js';
export * from './ports.js';
export * from './process.js';
export * from './influxd.js';
export * from './redis.js';
export * from './postgres.js';
export * from './postgres-image.js';
export * from './slack.js';
export * from './cookies.js';
export * from './prometheus.js';
export * from './fuzz.js';
export * from './raw-http.js';
