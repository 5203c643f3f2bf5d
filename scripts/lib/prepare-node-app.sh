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
  if [[ -d $ws/dist ]]; then cp -a "$ws/dist" "$stage/app/$ws/dist"; fi
done
# configs the services read at runtime from the image (e.g. SLA rules); small, no secrets
[[ -d configs/alerts ]] && mkdir -p "$stage/app/configs" && cp -a configs/alerts "$stage/app/configs/"
cp images/node/healthcheck.sh images/common/run-service "$stage/"
key=$(cat package-lock.json packages/*/package.json services/*/package.json | sha256sum | cut -c1-16)
if [[ -d $out/deps/node_modules && $(cat "$out/deps/.key" 2>/dev/null) == "$key" ]]; then
  log "production dependencies unchanged (reused)"
  mv "$out/deps/node_modules" "$stage/deps/node_modules"
else
  log "npm ci --omit=dev (production dependencies)"
  (cd "$stage/app" && npm ci --omit=dev --no-audit --no-fund --prefer-offline --loglevel=error) >.build/npm-ci-prod.log 2>&1 \
    || { tail -30 .build/npm-ci-prod.log >&2; exit 1; }
  mv "$stage/app/node_modules" "$stage/deps/node_modules"
fi
echo "$key" >"$stage/deps/.key"
rm -rf "$out"; mv "$stage" "$out"; trap - EXIT
log "staged $(du -sh "$out" | cut -f1) in $out"
