#!/usr/bin/env bash
# Compiles the monorepo on the host and stages the production tree of the Node image in .build/node-app:
# package manifests + lockfile + every workspace's dist/ (+ the web client's dist/) + production node_modules.
# See images/node/Dockerfile for why the build runs on the host.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
log() { printf '[node-app] %s\n' "$*" >&2; }
out=.build/node-app
mkdir -p .build

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >.build/npm-ci.log 2>&1 || { tail -30 .build/npm-ci.log >&2; exit 1; }
fi
log "tsc -b"
if ! npm run -s build >.build/tsc.log 2>&1; then
  tail -40 .build/tsc.log >&2
  # ALLOW_TSC_ERRORS=1 (development only): ship what tsc emitted anyway
  [[ ${ALLOW_TSC_ERRORS:-0} == 1 ]] || { log "TypeScript build failed (.build/tsc.log)"; exit 1; }
  log "WARNING: TypeScript errors ignored (ALLOW_TSC_ERRORS=1)"
fi
if [[ -f services/web-client/package.json ]] && grep -q '"build"' services/web-client/package.json; then
  log "web client (vite)"
  npm run -s build -w @forum/web-client >.build/web-client.log 2>&1 || { tail -40 .build/web-client.log >&2; exit 1; }
fi

# layout: deps/node_modules (production dependencies; reused while no manifest changed) and app/ (manifests + dist)
stage=$(mktemp -d .build/node-app.XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/app" "$stage/deps"
cp package.json package-lock.json "$stage/app/"
for ws in packages/* services/*; do
  [[ -f $ws/package.json ]] || continue
  mkdir -p "$stage/app/$ws"
  cp "$ws/package.json" "$stage/app/$ws/"
  [[ -d $ws/dist ]] || continue
  if [[ $ws == services/web-client ]]; then
    cp -r "$ws/dist" "$stage/app/$ws/dist" # vite empties dist/ on every build: nothing stale in it
    continue
  fi
  # tsc never deletes the output of a source that is gone, so dist/ of a long-lived clone holds files a fresh
  # clone lacks: stage only the outputs of the sources this tree has (x.ts -> x.js, x.js.map, x.d.ts).
  while IFS= read -r -d '' src; do
    rel=${src#"$ws/src/"}
    case $rel in *.d.ts) continue ;; *.ts) outs=("${rel%.ts}.js" "${rel%.ts}.js.map" "${rel%.ts}.d.ts") ;; *) outs=("$rel") ;; esac
    for o in "${outs[@]}"; do
      [[ -f $ws/dist/$o ]] || continue
      mkdir -p "$stage/app/$ws/dist/$(dirname "$o")"
      cp "$ws/dist/$o" "$stage/app/$ws/dist/$o"
    done
  done < <(find "$ws/src" -type f -print0)
done
# Modes as the checkout determines them, not as this clone's history left them (npm ci sets the executable bit
# of a workspace's `bin` files when dist/ existed at install time): files 0644, `bin` targets 0755.
find "$stage/app" -type f -exec chmod 0644 {} +
node -e '
  const fs = require("node:fs"), path = require("node:path");
  for (const ws of process.argv.slice(2)) {
    const bin = JSON.parse(fs.readFileSync(path.join(ws, "package.json"), "utf8")).bin ?? {};
    for (const f of typeof bin === "string" ? [bin] : Object.values(bin)) {
      const p = path.join(ws, f);
      if (fs.existsSync(p)) fs.chmodSync(p, 0o755);
    }
  }' "$stage"/app/packages/* "$stage"/app/services/*
# configs the services read at runtime from the image (e.g. SLA rules); small, no secrets
[[ -d configs/alerts ]] && mkdir -p "$stage/app/configs" && cp -a configs/alerts "$stage/app/configs/"
cp images/node/healthcheck.sh images/base/run-service "$stage/"
# "layout 2": deps/ holds the workspaces' own node_modules too (see below), so an older deps/ is not reused
key=$({ echo "deps layout 2"; cat package-lock.json packages/*/package.json services/*/package.json; } | sha256sum | cut -c1-16)
if [[ -d $out/deps/node_modules && $(cat "$out/deps/.key" 2>/dev/null) == "$key" ]]; then
  log "production dependencies unchanged (reused)"
  mv "$out/deps/node_modules" "$stage/deps/node_modules"
  [[ ! -d $out/deps/workspaces ]] || mv "$out/deps/workspaces" "$stage/deps/workspaces"
else
  log "npm ci --omit=dev (production dependencies)"
  (cd "$stage/app" && npm ci --omit=dev --no-audit --no-fund --prefer-offline --loglevel=error) >.build/npm-ci-prod.log 2>&1 \
    || { tail -30 .build/npm-ci-prod.log >&2; exit 1; }
  mv "$stage/app/node_modules" "$stage/deps/node_modules"
  # A workspace whose dependency conflicts with the hoisted version gets its own <ws>/node_modules (e.g. ipaddr.js
  # 2 for ipblock next to express's ipaddr.js 1). Kept in deps/workspaces so that reusing deps/ restores them.
  for nm in "$stage"/app/packages/*/node_modules "$stage"/app/services/*/node_modules; do
    [[ -d $nm ]] || continue
    ws=${nm#"$stage/app/"}; ws=${ws%/node_modules}
    mkdir -p "$stage/deps/workspaces/$ws"
    mv "$nm" "$stage/deps/workspaces/$ws/node_modules"
  done
fi
# Native addons compiled by node-gyp leave their build files next to the .node binary (Makefile, config.gypi,
# obj.target/...), which embed the absolute path of this staging folder: two clones would ship different
# bytes. Only build/Release/*.node is loaded at runtime.
while IFS= read -r -d '' gypi; do
  b=$(dirname "$gypi")
  find "$b" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
  if [[ -d $b/Release ]]; then find "$b/Release" -mindepth 1 -maxdepth 1 ! -name '*.node' -exec rm -rf {} +; fi
done < <(find "$stage/deps" -path '*/build/config.gypi' -print0)
# the workspaces' own node_modules go into the image with app/
if [[ -d $stage/deps/workspaces ]]; then
  for nm in "$stage"/deps/workspaces/*/*/node_modules; do
    ws=${nm#"$stage/deps/workspaces/"}; ws=${ws%/node_modules}
    cp -a "$nm" "$stage/app/$ws/node_modules"
  done
fi
echo "$key" >"$stage/deps/.key"
rm -rf "$out"; mv "$stage" "$out"; trap - EXIT
log "staged $(du -sh "$out" | cut -f1) in $out"
