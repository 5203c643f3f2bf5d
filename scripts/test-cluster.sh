#!/usr/bin/env bash
# npm run test:cluster: the multi-node path on this machine (docs/CLUSTER.md).
#   1. npm run cluster:up, if no node of the test cluster answers or this checkout has no .cluster/env
#   2. CLUSTER=1 npm run deploy: the stack across the three nodes, keepalived's VIP in front
#      (CLUSTER=1 exempts the private ranges from the edge's rate limits: the drills' load comes from this host's one
#      address on the cluster bridge; EDGE_RATE_LIMIT_EXEMPT, docs/EDGE.md "Rate limits")
#   3. the member tests (test/data-tier/*.test.ts: moving / re-cloning members), if present
#   4. the failure drills (test/cluster/*.test.ts: node loss, partition, maintenance, manager loss) under load
#      through the VIP; each prints one line `drill <name>: RTO ..., failed requests ..., lost acknowledged writes ...`
# Reports (TAP) go to reports/cluster-*.tap; the drill lines are repeated at the end; the last line is
# `N passed, N failed`. Exits non-zero on any failure. The cluster is left running (npm run cluster:down removes it).
#
# Options: --no-deploy (use the stack already on the cluster), --only members|drills, --help
# Env: CLUSTER_DRILLS=node-loss,partition,maintenance,manager-loss (a subset), and the drills' knobs
#      (test/cluster/drills.test.ts: DRILL_USERS, PARTITION_MS, DRILL_RECOVERY_MS, ...)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
deploy=1 only=
while (($#)); do
  case $1 in
    --help | -h) usage; exit 0 ;;
    --no-deploy) deploy=0 ;;
    --only) only=${2:-}; shift ;;
    *) echo "test-cluster: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case $only in '' | members | drills) ;; *) echo "test-cluster: --only takes members or drills" >&2; exit 2 ;; esac

mkdir -p reports
rm -f reports/cluster-*.tap
passed=0 failed=0
t0=$SECONDS
say() { printf '\n\033[1m[test:cluster %4ds] %s\033[0m\n' "$((SECONDS - t0))" "$*"; }
step() { # name command... : a step that is not a node:test run counts as one test
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); say "ok: $name"; return 0; fi
  failed=$((failed + 1)); say "FAILED: $name"; return 1
}
suite() { # name timeout-ms files...  (as scripts/test.sh: spec to the console, TAP to reports/<name>.tap)
  local name=$1 tmo=$2; shift 2
  (($#)) || return 0
  say "suite $name ($# files)"
  node --test --import tsx --test-concurrency=1 --test-timeout="$tmo" \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="reports/$name.tap" "$@"
  local rc=$? p f
  p=$(grep -E '^# pass [0-9]+' "reports/$name.tap" 2>/dev/null | tail -1 | awk '{print $3}')
  f=$(grep -E '^# fail [0-9]+' "reports/$name.tap" 2>/dev/null | tail -1 | awk '{print $3}')
  p=${p:-0} f=${f:-0}
  if ((rc != 0 && f == 0)); then f=1; fi # crashed before reporting
  passed=$((passed + p)) failed=$((failed + f))
  say "suite $name: $p passed, $f failed"
}
finish() {
  local lines
  lines=$(grep -hoE '^ *# drill [a-z-]+: .*' reports/cluster-*.tap 2>/dev/null | sed 's/^ *# //')
  [[ -z $lines ]] || { say "drill figures"; printf '%s\n' "$lines"; }
  say "total time $((SECONDS - t0)) s; reports in reports/cluster-*.tap"
  echo "$passed passed, $failed failed"
  ((failed == 0))
  exit
}

# the first node whose engine answers (node 1 may be the one a drill killed)
live_socket() {
  local n sock
  for n in ${CLUSTER_NODES:-forum-node-1 forum-node-2 forum-node-3}; do
    sock=unix:///run/forum-cluster/$n/docker.sock
    if DOCKER_HOST=$sock timeout 5 docker node ls >/dev/null 2>&1; then echo "$sock"; return 0; fi
  done
  return 1
}
load_env() { [[ -f .cluster/env ]] && { set -a; . .cluster/env; set +a; }; }

unset DOCKER_HOST # cluster:up and the image builds of the deploy talk to this machine's engine
load_env
# A cluster that answers but that this checkout did not write .cluster/env for (another checkout's cluster:up)
# still goes through cluster:up: it is idempotent, verifies the running nodes and writes the env here.
if [[ ! -f .cluster/env ]] || ! live_socket >/dev/null; then
  step "cluster:up ($([[ -f .cluster/env ]] && echo 'no cluster node answered' || echo 'no .cluster/env here'))" \
    bash scripts/cluster-up.sh || finish
  load_env
else
  say "the cluster answers: $(live_socket)"
fi
[[ -f .cluster/env ]] || { failed=$((failed + 1)); say "FAILED: no .cluster/env after cluster:up"; finish; }

if ((deploy)); then
  step "deploy (CLUSTER=1 npm run deploy)" env CLUSTER=1 bash scripts/deploy.sh || finish
fi

sock=$(live_socket) || { failed=$((failed + 1)); say "FAILED: no cluster manager answers"; finish; }
export DOCKER_HOST=$sock
export EDGE_URL=https://${EDGE_VIP:?.cluster/env sets EDGE_VIP}
# the deploy's certificate names the VIP and the nodes (secrets/generate.sh); the clients trust only the local CA
export EDGE_TLS_CA=${EDGE_TLS_CA:-$PWD/secrets/tls_ca.pem}
export NODE_EXTRA_CA_CERTS=$EDGE_TLS_CA CURL_CA_BUNDLE=$EDGE_TLS_CA
export STACK=${STACK_NAME:-forum}
# docker exec reaches only the containers of the endpoint's own node: the member tests find a member's container on
# the engine of the node that runs it (test/data-tier/lib.ts)
node_socket_template='unix:///run/forum-cluster/{node}/docker.sock' # quoted: a `}` inside ${x:-...} would end it
export NODE_DOCKER_HOST=${NODE_DOCKER_HOST:-$node_socket_template}
say "tests against $EDGE_URL (VIP), docker through $DOCKER_HOST"
shopt -s nullglob
if [[ $only != drills ]]; then
  files=(test/data-tier/*.test.ts)
  if ((${#files[@]})); then suite cluster-members 1800000 "${files[@]}"; else say "no member tests (test/data-tier/*.test.ts)"; fi
fi
if [[ $only != members ]]; then
  suite cluster-drills 1800000 test/cluster/*.test.ts
fi
finish
