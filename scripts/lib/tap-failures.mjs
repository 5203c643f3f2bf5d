#!/usr/bin/env node
// Prints every failed test of node:test TAP reports with the start of its error, for the end of a run's output:
// CI keeps only the tail of a long log, and the spec reporter's failure details scroll away with the suites after it.
//   node scripts/lib/tap-failures.mjs [--lines N] [--max M] reports/*.tap   (N error lines each, default 12; the
//   first M failures, default 8, so that the run's final lines still hold them)
// Parents that failed only because a subtest failed are left out (the subtest is listed). Prints nothing when none
// failed; exit status 0 either way (the counts decide the run).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const args = process.argv.slice(2);
let maxLines = 12;
let maxFailures = 8;
while (args[0] === '--lines' || args[0] === '--max') {
  const n = Number(args[1]);
  if (args[0] === '--lines') maxLines = n || maxLines;
  else maxFailures = n || maxFailures;
  args.splice(0, 2);
}

/** the YAML block after a "not ok" line: from "---" to "..." at the same indentation */
function block(lines, from, indent) {
  const out = [];
  if (lines[from]?.trimEnd() !== `${indent}  ---`) return out;
  for (let i = from + 1; i < lines.length && lines[i].trimEnd() !== `${indent}  ...`; i++) out.push(lines[i]);
  return out;
}

/** one YAML key's value: a quoted scalar on its line, or a `|-` block on the lines indented below it */
function field(yaml, key) {
  const i = yaml.findIndex((l) => l.trimStart().startsWith(`${key}:`));
  if (i < 0) return '';
  const line = yaml[i];
  const pad = line.length - line.trimStart().length;
  const value = line
    .trimStart()
    .slice(key.length + 1)
    .trim();
  if (value !== '|-' && value !== '|' && value !== '>-') return value.replace(/^'(.*)'$/s, '$1').replace(/''/g, "'");
  const body = [];
  for (let j = i + 1; j < yaml.length; j++) {
    const l = yaml[j];
    if (l.trim() && l.length - l.trimStart().length <= pad) break;
    body.push(l.slice(pad + 2));
  }
  return body.join('\n');
}

const found = [];
for (const file of args) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue;
  }
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const m = /^(\s*)not ok \d+ - (.*?)(?: # .*)?$/.exec(line);
    if (!m) return;
    const yaml = block(lines, i + 1, m[1]);
    if (field(yaml, 'failureType') === 'subtestsFailed') return;
    const error = field(yaml, 'error') || '(no error message)';
    const location = field(yaml, 'location');
    found.push({ suite: basename(file, '.tap'), name: m[2], location, error });
  });
}

if (found.length) {
  console.log(`\nfailed tests (${found.length}), with the start of each error:`);
  for (const f of found.slice(0, maxFailures)) {
    console.log(`FAILED [${f.suite}] ${f.name}${f.location ? ` (${f.location.replace(/^.*?\/(test|services|packages)\//, '$1/')})` : ''}`);
    const errLines = f.error.split('\n');
    for (const l of errLines.slice(0, maxLines)) console.log(`    ${l.slice(0, 400)}`);
    if (errLines.length > maxLines) console.log(`    ... (${errLines.length - maxLines} more lines in reports/${f.suite}.tap)`);
  }
  if (found.length > maxFailures) console.log(`... and ${found.length - maxFailures} more failed tests in the reports`);
}
