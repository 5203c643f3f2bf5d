#!/usr/bin/env bash
# npm test: everything, on the real thing.
#   1. npm ci (if needed) + build (tsc -b, strict)
#   2. test prerequisites (Debian packages the suites start: postgresql, redis, nginx, haproxy, ...)
#   3. unit/integration suites of every workspace (node --test --import tsx over packages/*/test, services/*/test)
#   4. npm run deploy (the real `forum` stack on this machine's swarm)
#   5. suites against the deployed stack through the edge: test/web, e2e, edge, autoscale, observability and
#      the failure drills (test/drills; TEST_SKIP_DRILLS=1 leaves them out)
#   6. undeploy (volumes too when CI=1 or TEST_UNDEPLOY_VOLUMES=1; TEST_KEEP_STACK=1 keeps the stack)
# Reports (TAP) go to reports/; the last line is `N passed, N failed`. Exits non-zero on any failure.
# TEST_PHASES=unit,deploy,e2e,undeploy selects phases (default: all).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
PHASES=",${TEST_PHASES:-build,unit,deploy,e2e,undeploy},"
mkdir -p reports
rm -f reports/*.tap
passed=0; failed=0
t0=$SECONDS
say() { printf '\n\033[1m[test %4ds] %s\033[0m\n' "$((SECONDS - t0))" "$*"; }
phase_on() { [[ $PHASES == *",$1,"* ]]; }
# a step that is not a node:test run counts as one test
step() { # name command...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); say "ok: $name"; return 0; fi
  failed=$((failed + 1)); say "FAILED: $name"; return 1
}
# runs node:test over files; spec to the console, TAP to reports/<name>.tap; adds its counts
suite() { # name timeout-ms files...
  local name=$1 tmo=$2; shift 2
  (($#)) || return 0
  say "suite $name ($# files)"
  node --test --import tsx --test-concurrency=1 --test-timeout="$tmo" \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="reports/$name.tap" "$@"
  local rc=$? p f
  p=$(grep -E '^# pass [0-9]+' "reports/$name.tap" 2>/dev/null | tail -1 | awk '{print $3}')
  f=$(grep -E '^# fail [0-9]+' "reports/$name.tap" 2>/dev/null | tail -1 | awk '{print $3}')
  p=${p:-0}; f=${f:-0}
  if ((rc != 0 && f == 0)); then f=1; fi # crashed before reporting
  passed=$((passed + p)); failed=$((failed + f))
  say "suite $name: $p passed, $f failed"
}

if phase_on build; then
  if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
    step "npm ci" npm ci --no-audit --no-fund --loglevel=error
  fi
  step "build (tsc -b)" npm run -s build
  step "test prerequisites" bash scripts/lib/ensure-test-deps.sh
fi

if phase_on unit; then
  shopt -s nullglob
  for ws in packages/* services/*; do
    files=("$ws"/test/*.test.ts)
    suite "unit-$(basename "$ws")" 600000 "${files[@]}"
  done
  shopt -u nullglob
fi

deployed=0
if phase_on deploy; then
  bash scripts/lib/ensure-docker.sh
  if step "deploy (npm run deploy)" bash scripts/deploy.sh; then deployed=1; fi
fi

if phase_on e2e; then
  if ((deployed)) || ! phase_on deploy; then
    export EDGE_URL=${EDGE_URL:-http://127.0.0.1:${EDGE_HTTP_PORT:-80}}
    shopt -s nullglob
    # against the deployed stack; the disruptive ones (autoscale loop, InfluxDB outage, failure drills) last.
    # web first: e2e's API-down test scales the API to 0 and back, and the browser flow once failed in the window
    # after that recovery (see the issue notes). The failure drills (test/drills, ~6 min) run last: each kills a
    # data-tier member, a proxy or an API task under load. TEST_SKIP_DRILLS=1 leaves them out.
    dirs=(web e2e edge autoscale observability)
    [[ ${TEST_SKIP_DRILLS:-0} == 1 ]] || dirs+=(drills)
    for dir in "${dirs[@]}"; do
      files=(test/$dir/*.test.ts)
      suite "$dir" 900000 "${files[@]}"
    done
    shopt -u nullglob
  else
    say "skipping e2e/drills: the deploy failed"
    failed=$((failed + 1))
  fi
fi

if phase_on undeploy && [[ ${TEST_KEEP_STACK:-0} != 1 ]]; then
  args=()
  [[ ${CI:-} == 1 || ${CI:-} == true || ${TEST_UNDEPLOY_VOLUMES:-0} == 1 ]] && args+=(--volumes)
  step "undeploy (stack removed)" bash -c 'bash scripts/undeploy.sh "$@" && ! docker stack ls --format "{{.Name}}" | grep -qx "${STACK_NAME:-forum}"' _ "${args[@]}"
fi

say "total time $((SECONDS - t0)) s; reports in reports/"
echo "$passed passed, $failed failed"
((failed == 0))
