#!/usr/bin/env node
// Renders compose files the way `docker stack deploy` reads them, for the deploy's own bookkeeping (the data-tier
// roll compares rendered member definitions, and stale secret/config objects are found by their rendered names).
//
// Why not `docker stack config`: Debian's own CLIs lack it (20.10 in Debian 12) or read only compose <= 3.9, and
// the deploy must work with nothing but Debian's docker.io. What is rendered here is exactly what
// `docker stack deploy` receives, so the output stays within compose 3.9:
// - YAML anchors and `<<` merge keys are resolved; top-level `x-*` extension fields are dropped;
// - ${VAR}, $VAR, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$ are interpolated from the
//   environment; a value that was one whole substitution and yields an integer becomes a number (replicas, ports);
// - `$` left in the output is escaped as `$$`, so the CLI's own interpolation gives back the same text;
// - relative `file:` paths of secrets/configs resolve against the directory of the FIRST file (compose's project
//   directory), so the rendered file can live anywhere;
// - with several files, each top-level map is merged key by key; a later file's service replaces an earlier one.
//
// Usage: node scripts/lib/render-stack.mjs out.yml file.yml [more.yml...]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse, stringify } from 'yaml';

const SUBST = /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

export function interpolate(text, env = process.env, where = '') {
  return text.replace(SUBST, (_m, dollar, name, op, arg, bare) => {
    if (dollar) return '$';
    const key = name ?? bare;
    const value = env[key];
    const unset = value === undefined;
    const empty = unset || value === '';
    switch (op) {
      case ':-':
        return empty ? interpolate(arg ?? '', env, where) : value;
      case '-':
        return unset ? interpolate(arg ?? '', env, where) : value;
      case ':?':
      case '?':
        if (op === ':?' ? empty : unset) throw new Error(`${where}: required variable ${key} is missing: ${arg ?? ''}`);
        return value;
      default:
        return value ?? '';
    }
  });
}

const WHOLE = /^\$(\{[^{}]*(\{[^{}]*\}[^{}]*)*\}|[A-Za-z_][A-Za-z0-9_]*)$/;

function walk(node, env, path) {
  if (typeof node === 'string') {
    if (!node.includes('$')) return node;
    const out = interpolate(node, env, path);
    // environment values and labels stay strings, as the CLI keeps them
    const keepString = /\.(environment|labels)\./.test(path);
    return !keepString && WHOLE.test(node) && /^-?\d+$/.test(out) ? Number(out) : out;
  }
  if (Array.isArray(node)) return node.map((v, i) => walk(v, env, `${path}[${i}]`));
  if (node && typeof node === 'object') {
    const res = {};
    for (const [k, v] of Object.entries(node)) res[k] = walk(v, env, path ? `${path}.${k}` : k);
    return res;
  }
  return node;
}

function escapeDollars(node) {
  if (typeof node === 'string') return node.replaceAll('$', '$$');
  if (Array.isArray(node)) return node.map(escapeDollars);
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, escapeDollars(v)]));
  return node;
}

export function render(files, env = process.env) {
  const projectDir = dirname(resolve(files[0]));
  const out = { version: '3.9' };
  for (const file of files) {
    const doc = parse(readFileSync(file, 'utf8'), { version: '1.1', merge: true }) ?? {};
    for (const [top, value] of Object.entries(doc)) {
      if (top === 'version' || top.startsWith('x-')) continue;
      const rendered = walk(value, env, top);
      if (rendered && typeof rendered === 'object' && !Array.isArray(rendered)) out[top] = { ...(out[top] ?? {}), ...rendered };
      else out[top] = rendered;
    }
  }
  for (const top of ['secrets', 'configs']) {
    for (const def of Object.values(out[top] ?? {})) {
      if (def && typeof def.file === 'string' && !isAbsolute(def.file)) def.file = resolve(projectDir, def.file);
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [outFile, ...files] = process.argv.slice(2);
  if (!outFile || files.length === 0) {
    console.error('usage: render-stack.mjs out.yml stack.yml [more.yml...]');
    process.exit(2);
  }
  try {
    writeFileSync(outFile, stringify(escapeDollars(render(files)), { version: '1.1', lineWidth: 0 }));
  } catch (err) {
    console.error(`render-stack: ${err.message}`);
    process.exit(1);
  }
}
