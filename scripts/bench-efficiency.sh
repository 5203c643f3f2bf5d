#!/usr/bin/env bash
# npm run bench:efficiency: the efficiency goals (idle cost, edge ratio, CPU per operation) in one run against the deployed `forum` stack, on this machine.
#   1. idle (stack-profile.sh idle): containers' CPU % of one core, forks/s, machine busy % of all cores, memory
#   2. edge (stack-profile.sh edge): the stack's /healthcheck/ over a bare NGINX -> node hop, same run; then the CPU
#      one such request costs (the stack's containers + the host's dockerd/containerd/shims, over a 10 s wrk run).
#      The edge is measured over HTTPS (EDGE_URL), what users get, so it now pays TLS (wrk: HTTP/1.1 on keep-alive
#      connections, the handshakes are few; record/AES-GCM cost on every request) while the bare hop stays plain
#      HTTP on loopback: the ratio includes TLS. wrk does not verify certificates (fine for a measurement); curl and
#      the load tool check the edge's against the stack's CA (EDGE_TLS_CA, default secrets/tls_ca.pem). No plain-HTTP
#      figure of the edge: its port 80 only redirects, and the stack has no published plain path to the api.
#   3. cost per operation: the seed mix (npm run loadtest) at ~USERS/THINK ops/s; the containers' CPU (cgroups)
#      over the loadtest's steady state divided by the operations of that steady state
# Prints the figures and ends with one line: `EFFICIENCY ...`. Needs root (cgroups, /proc) and a healthy stack.
#
# Environment (all optional):
#   PROFILE_TOOL=../shared/tools/stack-profile.sh   the measuring tool (the issue's; must exist)
#   IDLE_SECONDS=60          idle window
#   USERS=1000 THINK=10      simulated users and their think time: USERS/THINK ops/s (100)
#   RAMP=100                 new users per second
#   LOAD_SECONDS=90          measured loadtest run (the steady state starts after USERS/RAMP + THINK seconds)
#   SKIP_IDLE=1 SKIP_EDGE=1 SKIP_COST=1 SKIP_LOAD=1   leave a part out
#   EDGE_URL=https://<the IPv4 address of the default route's interface>:443 (port EDGE_HTTPS_PORT; 127.0.0.1 if none)
#   LOAD_URL=https://127.0.0.1:443   the seed mix's target
#   EDGE_TLS_CA=secrets/tls_ca.pem  STACK_NAME=forum
#   REPORT_DIR=reports/bench  where the loadtest report and the summary line go (efficiency-<time>.*)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
for arg in "$@"; do
  case $arg in
    -h | --help)
      sed -n '2,/^set -uo pipefail$/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      printf 'bench-efficiency.sh: unknown argument %q (settings are environment variables: --help)\n' "$arg" >&2
      exit 2
      ;;
  esac
done
STACK=${STACK_NAME:-forum}
export STACK
TOOL=${PROFILE_TOOL:-$root/../shared/tools/stack-profile.sh}
[[ -f $TOOL ]] || TOOL=/work/shared/tools/stack-profile.sh
[[ -f $TOOL ]] || {
  echo "bench-efficiency: no stack-profile.sh (set PROFILE_TOOL)" >&2
  exit 1
}
# The edge is reached at the machine's own address, as a client on another machine reaches it: the kernel's DNAT
# to the NGINX task. Through 127.0.0.1 dockerd's userland docker-proxy copies every byte of the connection in a
# host process (measured: 3,162 req/s with docker-proxy at 30 % of a core, against 7,568 req/s at the machine's
# address, same minute); no remote client takes that path. The loopback figure is printed beside it. The address
# is the default route's interface's (not a Docker bridge's).
own_dev=$(ip -4 route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
own_ip=$(ip -4 -o addr show ${own_dev:+dev "$own_dev"} scope global 2>/dev/null | awk '{sub(/\/.*/, "", $4); print $4; exit}')
EDGE=${EDGE_URL:-https://${own_ip:-127.0.0.1}:${EDGE_HTTPS_PORT:-443}}
export EDGE_URL=$EDGE
# The seed mix comes from 127.0.0.1, which the edge sees as the docker_gwbridge gateway (a private address): its
# 1,000 users log in from one address, and at the machine's public address the api's login guard counts the logins
# in flight as attempts from one address and blocks it (seen: 150 concurrent logins -> login_bruteforce -> ipblock).
# Its cost per operation is the containers' CPU (cgroups), so docker-proxy on that path is not in the figure.
LOOPBACK_URL=https://127.0.0.1:${EDGE_HTTPS_PORT:-443}
LOAD_URL=${LOAD_URL:-$LOOPBACK_URL}
# the stack's local CA: curl here; the load tool finds it itself (EDGE_TLS_CA, else secrets/tls_ca.pem)
EDGE_TLS_CA=${EDGE_TLS_CA:-$root/secrets/tls_ca.pem}
cacert=()
if [[ -f $EDGE_TLS_CA ]]; then
  export EDGE_TLS_CA
  cacert=(--cacert "$EDGE_TLS_CA")
fi
USERS=${USERS:-1000} THINK=${THINK:-10} RAMP=${RAMP:-100} LOAD_SECONDS=${LOAD_SECONDS:-90} IDLE_SECONDS=${IDLE_SECONDS:-60}
REPORT_DIR=${REPORT_DIR:-reports/bench}
mkdir -p "$REPORT_DIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
docker stack ls --format '{{.Name}}' | grep -qx "$STACK" || {
  echo "bench-efficiency: no '$STACK' stack deployed (npm run deploy)" >&2
  exit 1
}
curl "${cacert[@]}" -fsS -o /dev/null --max-time 5 "$EDGE/healthcheck/" || {
  echo "bench-efficiency: $EDGE/healthcheck/ does not answer" >&2
  exit 1
}
dind=$(docker ps --filter name=forum-node --format '{{.Names}}' | sort | paste -sd, -)
dind=${dind:-none}
echo "[efficiency] $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo -) load $(cut -d' ' -f1-3 /proc/loadavg); DinD cluster running: $dind"

idle_line='' edge_ratio='' edge_line=''
if [[ ${SKIP_IDLE:-0} != 1 ]]; then
  out=$(bash "$TOOL" idle "$IDLE_SECONDS" 2>&1)
  printf '%s\n' "$out"
  idle_line=$(printf '%s\n' "$out" | sed -n 's/^SUMMARY idle: //p')
fi
# The edge's per-address rate limits would answer most of wrk's requests 429 (cheaper than the api: a false
# figure): the address the requests come from must be in the deploy's EDGE_RATE_LIMIT_EXEMPT.
# Checked after the idle window (a burst just before it would be in it), before the edge's wrk runs.
if [[ ${SKIP_EDGE:-0} != 1 || ${SKIP_COST:-0} != 1 ]] && command -v wrk >/dev/null; then
  non2xx=$(wrk -t1 -c8 -d2s "$EDGE/healthcheck/" | awk '/Non-2xx/ {print $NF}')
  if [[ -n $non2xx ]]; then
    echo "bench-efficiency: $non2xx of a 2 s burst on $EDGE/healthcheck/ were not 2xx/3xx (the edge's rate limits?): deploy with this client's address in EDGE_RATE_LIMIT_EXEMPT, e.g. EDGE_RATE_LIMIT_EXEMPT=\"${own_ip:-127.0.0.1}/32 172.16.0.0/12\" npm run deploy" >&2
    exit 1
  fi
fi
if [[ ${SKIP_EDGE:-0} != 1 ]]; then
  out=$(bash "$TOOL" edge 2>&1)
  printf '%s\n' "$out"
  edge_ratio=$(printf '%s\n' "$out" | sed -n 's/^SUMMARY edge ratio //p')
  edge_line=$(printf '%s\n' "$out" | sed -n 's/^bare nginx->node \([0-9]*\) req\/s, stack edge \/healthcheck\/ \([0-9]*\) req\/s.*/bare \1, edge \2 req\/s/p')
  if [[ $EDGE != "$LOOPBACK_URL" ]] && command -v wrk >/dev/null; then
    lrps=$(wrk -t2 -c64 -d10s "$LOOPBACK_URL/healthcheck/" | awk '/Requests\/sec/ {printf "%.0f", $2}')
    echo "edge through loopback ($LOOPBACK_URL, dockerd's docker-proxy in the path): ${lrps:-?} req/s"
    edge_line="$edge_line at $EDGE; loopback ${lrps:-?} req/s"
  fi
fi

# cumulative CPU ns of every container of the stack, one line "epoch_ms total_ns" per sample (cgroup v1 or v2)
cgroup_dirs() { # [service...]: only these services' containers
  local c f
  for c in $(docker ps -q --no-trunc --filter "label=com.docker.stack.namespace=$STACK"); do
    if (($#)); then
      [[ " $* " == *" $(docker inspect -f '{{index .Config.Labels "com.docker.swarm.service.name"}}' "$c" | sed "s/^${STACK}_//") "* ]] || continue
    fi
    f=/sys/fs/cgroup/cpuacct/docker/$c/cpuacct.usage
    [[ -f $f ]] && {
      echo "$f"
      continue
    }
    f=/sys/fs/cgroup/system.slice/docker-$c.scope/cpu.stat
    [[ -f $f ]] && echo "$f"
  done
}
sample_cpu() { # file list -> appends "epoch_ms ns" every 2 s until killed
  local files=("$@")
  while :; do
    awk -v t="$(date +%s%3N)" '/^usage_usec/ {s += $2 * 1000; next} NF == 1 {s += $1} END {printf "%s %.0f\n", t, s}' "${files[@]}" 2>/dev/null
    sleep 2
  done
}

# CPU ns of the host's dockerd, containerd and containerd-shims (not those of Docker-in-Docker nodes: their
# processes sit in a container's cgroup): what per-request logging through the json-file driver costs
daemons_ns() {
  local p hz
  hz=$(getconf CLK_TCK)
  for p in $(pgrep -x dockerd) $(pgrep -x containerd) $(pgrep -f '^/usr/bin/containerd-shim') $(pgrep -x docker-proxy); do
    grep -q 'cpuacct:/$' "/proc/$p/cgroup" 2>/dev/null && awk -v hz="$hz" '{sub(/^.*\) /, ""); print ($12 + $13) * 1e9 / hz}' "/proc/$p/stat" 2>/dev/null
  done | awk '{s += $1} END {printf "%.0f", s}'
}
containers_ns() { awk '/^usage_usec/ {s += $2 * 1000; next} NF == 1 {s += $1} END {printf "%.0f", s}' "$@" 2>/dev/null; }

# 2b. the CPU one trivial request costs through the edge (wrk on /healthcheck/, 10 s, less the 10 s idle before it):
#     less sensitive to other load on the machine than req/s
cost_line=''
if [[ ${SKIP_COST:-0} != 1 ]] && command -v wrk >/dev/null; then
  # the request's path only (a saturated machine starves the rest of the stack during the run, which would make
  # "all containers minus idle" meaningless); the host's daemons carry the json-file logging
  mapfile -t files < <(cgroup_dirs ${EDGE_PATH_SERVICES:-nginx api log-shipper})
  # the 10 s before the run, idle, are subtracted: the CPU the requests added, not the stack's idle cost
  c0=$(containers_ns "${files[@]}") d0=$(daemons_ns)
  sleep 10
  c1=$(containers_ns "${files[@]}") d1=$(daemons_ns)
  reqs=$(wrk -t2 -c64 -d10s "$EDGE/healthcheck/" | awk '/requests in/ {print $1}')
  c2=$(containers_ns "${files[@]}") d2=$(daemons_ns)
  cost_line=$(awk -v r="${reqs:-0}" -v c=$((c2 - 2 * c1 + c0)) -v d=$((d2 - 2 * d1 + d0)) 'BEGIN {
    if (r > 0) printf "edge cost %.0f us CPU/request above idle (nginx+api+log-shipper %.0f, dockerd+containerd+docker-proxy %.0f; %d requests in 10 s)", (c + d) / r / 1e3, c / r / 1e3, d / r / 1e3, r }')
  echo "$cost_line"
fi

load_line=''
if [[ ${SKIP_LOAD:-0} != 1 ]]; then
  report=$REPORT_DIR/efficiency-$stamp
  mapfile -t files < <(cgroup_dirs)
  samples=$(mktemp)
  sample_cpu "${files[@]}" >"$samples" &
  sampler=$!
  echo "[efficiency] loadtest: $USERS users, think $THINK s (~$((USERS / THINK)) ops/s), ramp $RAMP/s, $LOAD_SECONDS s; ${#files[@]} containers sampled"
  npm run -s loadtest -- --target "$LOAD_URL" --users "$USERS" --think "$THINK" --ramp "$RAMP" --duration "$LOAD_SECONDS" \
    --progress 15 --report "$report" >"$report.log" 2>&1
  rc=$?
  kill "$sampler" 2>/dev/null
  wait "$sampler" 2>/dev/null
  grep -E 'steady state|read p95|load generator' "$report.txt" 2>/dev/null | head -5
  if [[ -f $report.json ]]; then
    load_line=$(node -e '
      const fs = require("node:fs");
      const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      const s = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").map((l) => l.split(" ").map(Number)).filter((x) => x.length === 2 && x[1] > 0);
      if (!r.steady || s.length < 2) { console.log("cost per op: no steady state"); process.exit(0); }
      const t0 = Date.parse(r.startedAt), from = t0 + r.steady.fromS * 1000, to = t0 + r.durationS * 1000;
      // the samples nearest the steady window (every 2 s): CPU and wall time of the same span
      const near = (t) => s.reduce((b, x) => (Math.abs(x[0] - t) < Math.abs(b[0] - t) ? x : b));
      const a = near(from), b = near(to);
      const wallS = (b[0] - a[0]) / 1000, cpuMs = (b[1] - a[1]) / 1e6;
      const ops = r.steady.requests * (wallS / Math.max(1e-9, r.durationS - r.steady.fromS));
      const f = (v) => (v === null ? "-" : v.toFixed(0));
      console.log(`cost ${(cpuMs / ops).toFixed(2)} ms CPU/op at ${r.steady.opsPerS.toFixed(0)} ops/s (containers ${(cpuMs / 10 / wallS).toFixed(0)}% of one core over ${wallS.toFixed(0)} s, read p95 ${f(r.steady.readP95Ms)} ms, write p95 ${f(r.steady.writeP95Ms)} ms, ${r.steady.failures} failed)`);
    ' "$report.json" "$samples")
  else
    load_line="cost per op: loadtest failed (rc $rc, $report.log)"
    tail -5 "$report.log" >&2
  fi
  rm -f "$samples"
  echo "$load_line"
fi

summary="EFFICIENCY $(date -u +%FT%TZ) dind=$dind | idle: ${idle_line:-skipped} | edge ratio ${edge_ratio:-skipped} (${edge_line:-}); ${cost_line:-} | ${load_line:-load skipped}"
echo "$summary"
echo "$summary" >>"$REPORT_DIR/efficiency.log"
