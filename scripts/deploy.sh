#!/usr/bin/env bash
# npm run deploy: a fresh Debian machine -> a healthy `forum` stack. Idempotent: re-running is a rolling update
# of whatever changed (images are tagged by content, secrets/configs named by content hash).
#
# Environment (all optional):
#   EDGE_HTTPS_PORT=443      host port of the edge's HTTPS (NGINX, host mode; HTTP/2, TLS 1.2+)
#   EDGE_HTTP_PORT=80        host port of the edge's plain HTTP: redirects to HTTPS (and keepalived's /nginx-health)
#   TLS_CERT_FILE=path TLS_KEY_FILE=path  the edge's certificate (PEM, leaf first, then intermediates) and key. Unset:
#                            secrets/generate.sh makes a local CA (secrets/tls_ca.pem: give it to your clients) and
#                            a certificate from it for this machine, the swarm's nodes, EDGE_VIP and TLS_SERVER_NAMES
#   TLS_SERVER_NAMES="forum.example.org ..."  extra DNS names / addresses for the generated certificate
#   REGISTRY=host:port       tag + push images there so every node of a multi-node swarm can pull them
#   INFLUX_URL=http://vm:8086  ship metrics to the external monitoring VM instead of the in-stack InfluxDB
#   DEPLOY_TIMEOUT=900       seconds to wait for every service to be healthy before failing
#   SKIP_BUILD=1             reuse the images of the last build (.build/image-tags.env)
#   STACK_NAME=forum
#   CLUSTER=1                deploy to the test cluster of `npm run cluster:up` (reads .cluster/env)
#   DEPLOY_DOCKER_HOST=...   the swarm manager to deploy to, when it is not this machine's engine: images are
#                            built here, pushed to REGISTRY, and the stack is deployed through that manager
#   EDGE_HOST=127.0.0.1      the address of an edge node, for the smoke check and the printed URLs
#   NODE_DOCKER_HOST=ssh://root@{node}  how to reach the engine of node {node} (multi-node: the data-tier roll
#                            checks members on their own node; the manager's engine sees only its containers)
#   EDGE_VIP=a.b.c.d         run keepalived (stack/edge-vip.yml) with this VIP in front of the edges
#                            (EDGE_VIP_CIDR, KEEPALIVED_INTERFACE, KEEPALIVED_PRIORITIES: docs/CLUSTER.md)
#   SNMP_ALLOW=a.b.c.d,net/n  the sources snmpd answers (default: the swarm's node addresses, docker_gwbridge and
#                            loopback; `default` = any source)
#   EDGE_RATE_LIMIT_EXEMPT="cidr ..."  addresses the edge never rate-limits (docs/EDGE.md "Rate limits"; the
#                            other EDGE_RATE_LIMIT_* / EDGE_CONN_LIMIT are in docker-stack.yml). Empty by default;
#                            npm test's deploy (FORUM_TEST_RUN=1) and CLUSTER=1 exempt the private ranges unless it is
#                            set (even to empty): the load tool, the e2e suites and the drills come from ONE address.
#                            A load test from your own machine needs it too, e.g. its docker_gwbridge gateway
#                            (from loopback) or "172.16.0.0/12"
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
for arg in "$@"; do
  case $arg in
    -h|--help)
      printf 'usage: npm run deploy [-- --help]      (bash scripts/deploy.sh)\n\n'
      sed -n '2,/^set -euo pipefail$/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0 ;;
    *) printf 'deploy.sh: unknown argument %q (it takes none; settings are environment variables: --help)\n' "$arg" >&2; exit 2 ;;
  esac
done
STACK=${STACK_NAME:-forum}
DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT:-900}
export EDGE_HTTP_PORT=${EDGE_HTTP_PORT:-80} EDGE_HTTPS_PORT=${EDGE_HTTPS_PORT:-443}
t0=$SECONDS
log() { printf '[deploy %4ds] %s\n' "$((SECONDS - t0))" "$*" >&2; }

# 0. the test cluster of `npm run cluster:up`: its manager socket, registry, edge address and VIP
if [[ ${CLUSTER:-0} == 1 ]]; then
  [[ -f .cluster/env ]] || { log "CLUSTER=1 but no .cluster/env: run 'npm run cluster:up' first"; exit 1; }
  set -a; . .cluster/env; set +a
  # each node's engine, for the data-tier roll's checks inside members that run on other nodes
  node_socket_template='unix:///run/forum-cluster/{node}/docker.sock' # quoted: a `}` inside ${x:-...} would end it
  export NODE_DOCKER_HOST=${NODE_DOCKER_HOST:-$node_socket_template}
  # the first manager whose socket answers (a drill may have killed node 1)
  for n in ${CLUSTER_NODES:-}; do
    sock=unix:///run/forum-cluster/$n/docker.sock
    if DOCKER_HOST=$sock timeout 5 docker node ls >/dev/null 2>&1; then export DEPLOY_DOCKER_HOST=$sock; break; fi
  done
fi

# the test harness reaches the edge from one address: from loopback through the docker_gwbridge gateway (172.16/12
# unless Docker was configured otherwise), the test cluster's VIP through its bridge (172.30.0.1); its own client
# namespaces (203.0.113.x) stay limited, which is what test/edge/rate-limit.test.ts checks
HARNESS_RATE_LIMIT_EXEMPT="127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 ::1/128 fc00::/7"
if [[ ${FORUM_TEST_RUN:-0} == 1 || ${CLUSTER:-0} == 1 ]]; then
  export EDGE_RATE_LIMIT_EXEMPT=${EDGE_RATE_LIMIT_EXEMPT-$HARNESS_RATE_LIMIT_EXEMPT}
fi

# preflight: Node 20+, root or Docker access, the edge port free or our own (seconds, not a 900 s timeout)
STACK_NAME=$STACK bash scripts/lib/preflight.sh node docker port
# a deploy by hand makes the stack the operator's: npm test then refuses to deploy over it (scripts/test.sh)
if [[ ${FORUM_TEST_RUN:-0} != 1 ]] && command -v docker >/dev/null; then
  DOCKER_HOST=${DEPLOY_DOCKER_HOST:-${DOCKER_HOST:-}} docker config rm "${STACK}-created-by-npm-test" >/dev/null 2>&1 || true
fi

# 1. engine + swarm, base image (the engine that builds: this machine's)
if [[ -n ${DEPLOY_DOCKER_HOST:-} ]]; then
  [[ -n ${REGISTRY:-} ]] || { log "DEPLOY_DOCKER_HOST is set: REGISTRY is needed too (the swarm's nodes pull from it)"; exit 1; }
  DOCKER_HOST=$DEPLOY_DOCKER_HOST timeout 10 docker node ls >/dev/null 2>&1 \
    || { log "the manager at DEPLOY_DOCKER_HOST=$DEPLOY_DOCKER_HOST does not answer 'docker node ls'"; exit 1; }
  # build only: do not turn this machine into a swarm of its own
  ( unset DOCKER_HOST; ENSURE_SWARM=0 bash scripts/lib/ensure-docker.sh )
  ( unset DOCKER_HOST; bash scripts/lib/base-image.sh )
else
  bash scripts/lib/ensure-docker.sh
  bash scripts/lib/base-image.sh
fi
# no-new-privileges: a Swarm service cannot set it (the compose format has no field for it); only the engine can, for
# every container. Warn when this engine does not (checked in a throwaway container of the base image).
if [[ -z ${DEPLOY_DOCKER_HOST:-} ]] &&
  ! docker run --rm --network none --entrypoint grep "${BASE_IMAGE:-debian:trixie-slim}" -qE '^NoNewPrivs:[[:space:]]+1$' /proc/self/status; then
  log "WARNING: this Docker engine does not set no-new-privileges; a setuid binary in a container could gain privileges." \
    "Add \"no-new-privileges\": true to /etc/docker/daemon.json and restart dockerd (docs/SECURITY.md, section 4)."
fi
export EDGE_HOST=${EDGE_HOST:-127.0.0.1}

# 2. secrets (never overwritten). The edge's certificate: the operator's pair (TLS_CERT_FILE/TLS_KEY_FILE, paths
#    relative to where npm was run), checked here so that a wrong file fails now and not as a crash-looping NGINX;
#    or the generated one, naming every address the edge answers on.
if [[ -n ${TLS_CERT_FILE:-}${TLS_KEY_FILE:-} ]]; then
  [[ -n ${TLS_CERT_FILE:-} && -n ${TLS_KEY_FILE:-} ]] || { log "set both TLS_CERT_FILE and TLS_KEY_FILE, or neither"; exit 1; }
  for v in TLS_CERT_FILE TLS_KEY_FILE; do
    f=${!v}; [[ $f == /* ]] || f=${INIT_CWD:-$PWD}/$f
    [[ -r $f ]] || { log "$v=${!v}: no such readable file"; exit 1; }
    export "$v=$(realpath "$f")"
  done
  openssl x509 -in "$TLS_CERT_FILE" -noout >/dev/null 2>&1 || { log "TLS_CERT_FILE=$TLS_CERT_FILE is not a PEM certificate"; exit 1; }
  [[ $(openssl x509 -in "$TLS_CERT_FILE" -noout -pubkey 2>/dev/null | sha256sum) == "$(openssl pkey -in "$TLS_KEY_FILE" -pubout 2>/dev/null | sha256sum)" ]] \
    || { log "TLS_KEY_FILE=$TLS_KEY_FILE is not the key of TLS_CERT_FILE=$TLS_CERT_FILE (or not an unencrypted PEM key)"; exit 1; }
  openssl x509 -in "$TLS_CERT_FILE" -noout -checkend 0 >/dev/null || { log "TLS_CERT_FILE=$TLS_CERT_FILE has expired"; exit 1; }
  log "edge certificate: $TLS_CERT_FILE ($(openssl x509 -in "$TLS_CERT_FILE" -noout -enddate))"
else
  san_extra=(${TLS_SERVER_NAMES:-} ${EDGE_VIP:-} ${EDGE_HOST:-})
  # the swarm's node addresses (each edge node answers on its own; the manager that is deployed through)
  san_extra+=($(
    [[ -z ${DEPLOY_DOCKER_HOST:-} ]] || export DOCKER_HOST=$DEPLOY_DOCKER_HOST
    docker node ls -q 2>/dev/null | xargs -r docker node inspect --format '{{.Status.Addr}}' 2>/dev/null | grep -v '^0\.0\.0\.0$' || true
  ))
  export TLS_SAN_EXTRA="${san_extra[*]}"
fi
bash secrets/generate.sh

# 3. images
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "building images"
  bash scripts/build-images.sh
fi
[[ -f .build/image-tags.env ]] || { log "no .build/image-tags.env: run without SKIP_BUILD"; exit 1; }
set -a; . .build/image-tags.env; set +a
if [[ -n ${REGISTRY:-} ]]; then export REGISTRY_PREFIX="$REGISTRY/"; fi
# from here on every docker command talks to the swarm
if [[ -n ${DEPLOY_DOCKER_HOST:-} ]]; then export DOCKER_HOST=$DEPLOY_DOCKER_HOST; log "deploying through $DOCKER_HOST"; fi

# the compose files: the stack, plus keepalived's VIP in front of the edges when EDGE_VIP is set
stack_files=(docker-stack.yml)
if [[ -n ${EDGE_VIP:-} ]]; then
  stack_files+=(stack/edge-vip.yml)
  # 6 s: keepalived's check (1 s) plus the backup's master-down timer (~1.6 s) moved the VIP 2.1 s after the drain
  # began on an idle host, and more than 3 s under a loaded CI run (37 reads refused on the VIP). Each NGINX stop
  # (a rolling update, a drain) takes these seconds longer; nginx's default 10 s grace period still covers them.
  export NGINX_DRAIN_SECONDS=${NGINX_DRAIN_SECONDS:-6} EDGE_VIP_CIDR=${EDGE_VIP_CIDR:-$EDGE_VIP/24}
fi

# 4. content hashes of every secret/config file the stack names (name: ..._${X_HASH:-v1})
while read -r var file; do
  # `file: ${VAR:-default}` (the operator's TLS pair): the path the stack will read
  if [[ $file =~ ^\$\{([A-Z0-9_]+):-(.*)\}$ ]]; then v=${BASH_REMATCH[1]}; file=${!v:-${BASH_REMATCH[2]}}; fi
  [[ -f $file ]] || { log "missing file $file (referenced by docker-stack.yml)"; exit 1; }
  export "$var=$(sha256sum "$file" | cut -c1-12)"
done < <(awk '
  /^[a-z]/ { top=$1 }
  (top=="secrets:" || top=="configs:") && $1=="file:" { file=$2 }
  (top=="secrets:" || top=="configs:") && $1=="name:" && match($2, /\$\{[A-Z0-9_]+_HASH/) {
    print substr($2, RSTART+2, RLENGTH-2), file }' "${stack_files[@]}")

# 5a. stateful members stay on their node: each has a node label forum.<member>=true (its volume is local to that
#     node). A label no node carries yet is set here: pg-N and redis-N on the (N+1)th ready node by hostname,
#     influxdb on the 2nd, backup on the 3rd (all on the one node of a single-node swarm). A label on several
#     nodes, or on a node that is down, is reported: moving a member is a decision (scripts/move-member.sh).
mapfile -t ready_nodes < <(docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}}' | awk '$2=="Ready" && $3=="Active" {print $1}' | sort)
((${#ready_nodes[@]} > 0)) || { log "no Ready + Active swarm node"; exit 1; }
declare -A label_nodes=()
while read -r host labels; do
  for kv in $labels; do [[ $kv == forum.*=true ]] && label_nodes[${kv%%=*}]+="$host "; done
done < <(docker node ls -q | xargs docker node inspect --format '{{.Description.Hostname}} {{range $k, $v := .Spec.Labels}}{{$k}}={{$v}} {{end}}')
for member in pg-0 pg-1 pg-2 redis-0 redis-1 redis-2 influxdb backup; do
  case $member in pg-*|redis-*) idx=${member##*-} ;; influxdb) idx=1 ;; backup) idx=2 ;; esac
  holders=(${label_nodes[forum.$member]:-})
  if ((${#holders[@]} == 0)); then
    target=${ready_nodes[idx % ${#ready_nodes[@]}]}
    docker node update --label-add "forum.$member=true" "$target" >/dev/null
    log "placement: $member -> node $target (label forum.$member=true)"
  elif ((${#holders[@]} > 1)); then
    log "label forum.$member=true is on several nodes (${holders[*]}): its volume lives on one of them. Keep it on that one: bash scripts/move-member.sh $member <node>"
    exit 1
  elif [[ " ${ready_nodes[*]} " != *" ${holders[0]} "* ]]; then
    log "WARNING: $member's node ${holders[0]} is not Ready/Active: $member stays down until it returns, or move it: bash scripts/move-member.sh $member <node>"
  fi
done

# 5b. NGINX publishes in host mode: at most one replica per node. Sentinel and redis-proxy: at most one per node
# once there are 3 nodes (docker-stack.yml), so that losing or isolating a node never takes two of them
nodes=$(( $(docker node ls -q | wc -l) ))
export SPREAD_MAX_PER_NODE=${SPREAD_MAX_PER_NODE:-$(( nodes >= 3 ? 1 : 0 ))}
if [[ -z ${NGINX_REPLICAS:-} ]]; then
  NGINX_REPLICAS=$(( nodes < 3 ? nodes : 3 ))
  ((NGINX_REPLICAS == 3)) || log "NOTE: $nodes node(s): nginx runs $NGINX_REPLICAS replica(s) (host-mode port, one per node; 3 with 3+ nodes)"
fi
export NGINX_REPLICAS
# the autoscaler never takes NGINX below one per edge node: the VIP (and DNS round robin) expect an edge on each
export NGINX_AUTOSCALE_MIN=${NGINX_AUTOSCALE_MIN:-$NGINX_REPLICAS}

# 5c. snmpd (host network, v2c) answers only the poller's possible sources: every swarm node's address (a poller on
# another node arrives from that node's address), this engine's docker_gwbridge networks (a poller on the same node
# arrives from its container address) and loopback (the healthcheck). Nodes that join later: deploy again. An
# explicit SNMP_ALLOW (e.g. adding a monitoring VM's address, or `default` for any) replaces the computed list.
if [[ -z ${SNMP_ALLOW:-} ]]; then
  allow=(127.0.0.1)
  while read -r a; do [[ -n $a && $a != 0.0.0.0 && $a != 127.* ]] && allow+=("$a"); done \
    < <(docker node ls -q | xargs docker node inspect --format '{{.Status.Addr}}')
  while read -r net; do [[ -n $net ]] && allow+=("$net"); done \
    < <(docker network inspect docker_gwbridge --format '{{range .IPAM.Config}}{{println .Subnet}}{{end}}' 2>/dev/null | grep -E '^[0-9.]+/[0-9]+$')
  SNMP_ALLOW=$(IFS=,; echo "${allow[*]}")
fi
export SNMP_ALLOW
log "snmpd answers: $SNMP_ALLOW (SNMP_ALLOW)"

# a task that exited 0 (e.g. someone ran `docker stop` on it) is not restarted under restart_policy on-failure:
# re-running the deploy brings such services back
while read -r svc mode reps; do
  live=$(docker service ps -q --filter desired-state=running "$svc" | wc -l)
  want=${reps#*/}; want=${want%% *}
  if [[ $mode == replicated ]]; then want=$(docker service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' "$svc"); else ((want > 0)) || want=1; fi
  if ((want > 0 && live < want)); then
    log "$svc: $live/$want tasks scheduled, restarting it"
    docker service update --force --detach "$svc" >/dev/null 2>&1 || true
  fi
done < <(docker service ls --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Name}} {{.Mode}} {{.Replicas}}')

# 6. deploy. On an existing stack the data tier goes first, one member at a time (standbys/replicas first, the
#    primary/master last, each waits until its cluster is whole again): a plain `docker stack deploy` would
#    restart pg-0..2 (or redis-0..2) together when all of them change, e.g. with a new image.
#    The script also labels each data-tier member with a hash of its whole definition (what it compares next
#    time) and writes the rendered stack with those labels, which is what gets deployed.
node scripts/lib/render-stack.mjs .build/stack-rendered.yml "${stack_files[@]}"
# CLI 26+ waits for the services unless told not to; older CLIs never wait and lack the flag
STACK_DEPLOY_DETACH=; docker stack deploy --help 2>&1 | grep -q -- '--detach' && STACK_DEPLOY_DETACH=--detach=true
export STACK_DEPLOY_DETACH
node scripts/lib/roll-data-tier.mjs "$STACK" .build/stack-rendered.yml
log "docker stack deploy $STACK"
deploy_epoch=$(date -u +%s)
docker stack deploy -c .build/stack-rendered.yml.labelled.yml --prune --resolve-image never $STACK_DEPLOY_DETACH "$STACK" >.build/stack-deploy.log 2>&1 \
  || { cat .build/stack-deploy.log >&2; exit 1; }

# 7. wait until every service has all its replicas running and healthy (swarm only reports a task with a
#    healthcheck as running once it is healthy)
report_failure() {
  local svc=$1
  printf '\n==== %s: not healthy ====\n' "$svc" >&2
  docker service ps --no-trunc --format '{{.Name}} {{.Image}} desired={{.DesiredState}} current={{.CurrentState}} error={{.Error}}' "$svc" 2>&1 | head -6 >&2
  printf -- '---- last log lines of %s ----\n' "$svc" >&2
  timeout 15 docker service logs --no-task-ids --tail 25 --timestamps "$svc" 2>&1 | tail -25 >&2 || true
}
deadline=$((SECONDS + DEPLOY_TIMEOUT))
last_print=0
# A task whose container turned healthy while its node's dockerd was starved can stay "starting" for good: the
# engine drops an event that a subscriber does not read within 100 ms, and Swarm's executor waits for the
# health_status event (seen on the 3-node DinD cluster under a load average of 60). A task still starting well
# after its start_period is restarted once (`service update --force`); a genuinely unhealthy one fails the
# same way again and is reported at the timeout.
declare -A nudged=()
nudge_stuck() {
  local svc id state since period now
  now=$(date -u +%s)
  for svc in "${pending[@]}"; do
    svc=${STACK}_${svc%% *}
    [[ -z ${nudged[$svc]:-} ]] || continue
    period=$(docker service inspect -f '{{with .Spec.TaskTemplate.ContainerSpec.Healthcheck}}{{printf "%d" .StartPeriod}}{{end}}' "$svc" 2>/dev/null)
    period=$(( ${period:-0} / 1000000000 ))
    while read -r id; do
      read -r state since < <(docker inspect -f '{{.Status.State}} {{.Status.Timestamp.Unix}}' "$id" 2>/dev/null) || continue
      if [[ $state == starting ]] && ((now - since > period + ${STUCK_STARTING_GRACE:-150})); then
        log "$svc: a task has been starting for $((now - since)) s (start_period ${period} s): restarting the service once"
        docker service update --force --detach "$svc" >/dev/null 2>&1 || true
        nudged[$svc]=1
        break
      fi
    done < <(docker service ps -q --filter desired-state=running "$svc" 2>/dev/null)
  done
}
tty=0; [[ -t 2 ]] && tty=1
while :; do
  pending=(); total=0; ready=0; failed_update=()
  while read -r name reps; do
    total=$((total + 1))
    run=${reps%%/*}; want=${reps#*/}; want=${want%% *}
    if [[ $run == "$want" && $want != 0 ]]; then ready=$((ready + 1)); else pending+=("${name#"${STACK}"_} $run/$want"); fi
  done < <(docker service ls --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Name}} {{.Replicas}}')
  # a rolling update of THIS deploy that rolled back or paused is a failure even if the old tasks are healthy
  while read -r name state started; do
    [[ -n $started && $started -ge $((deploy_epoch - 5)) ]] || continue
    case $state in rollback_*|paused) failed_update+=("$name($state)") ;; esac
  done < <(docker service ls --filter "label=com.docker.stack.namespace=$STACK" -q | xargs -r docker service inspect --format '{{.Spec.Name}} {{if .UpdateStatus}}{{.UpdateStatus.State}} {{if .UpdateStatus.StartedAt}}{{.UpdateStatus.StartedAt.Unix}}{{end}}{{end}}')
  if ((${#failed_update[@]})); then
    ((tty)) && printf '\n' >&2
    log "update failed: ${failed_update[*]}"
    for f in "${failed_update[@]}"; do report_failure "${f%%(*}"; done
    exit 1
  fi
  updating=$(docker service ls --filter "label=com.docker.stack.namespace=$STACK" -q | xargs -r docker service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' | grep -c '^updating$' || true)
  line="$ready/$total services healthy${pending:+; waiting: ${pending[*]}}"
  ((updating > 0)) && line="$line; $updating rolling"
  if ((total > 0 && ready == total && updating == 0)); then
    ((tty)) && printf '\r\033[K' >&2
    log "all $total services healthy"
    break
  fi
  if ((SECONDS > deadline)); then
    ((tty)) && printf '\n' >&2
    log "TIMEOUT after ${DEPLOY_TIMEOUT}s: $line"
    for p in "${pending[@]}"; do report_failure "${STACK}_${p%% *}"; done
    exit 1
  fi
  if ((tty)); then
    printf '\r\033[K[deploy %4ds] %s' "$((SECONDS - t0))" "${line:0:$(( $(tput cols 2>/dev/null || echo 160) - 14 ))}" >&2
  elif ((SECONDS - last_print >= 10)); then
    log "$line"; last_print=$SECONDS
  fi
  ((${#pending[@]} && SECONDS - t0 > 120)) && nudge_stuck
  sleep 2
done

# 8. remove secret/config objects of earlier deploys that no task uses any more (in-use ones refuse removal)
for kind in secret config; do
  docker "$kind" ls --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Name}}' | while read -r obj; do
    grep -q "name: $obj\$" .build/stack-rendered.yml || docker "$kind" rm "$obj" >/dev/null 2>&1 || true
  done
done

# 9. smoke check through the edge
https_suffix=; [[ $EDGE_HTTPS_PORT == 443 ]] || https_suffix=:$EDGE_HTTPS_PORT
base="https://${EDGE_HOST}${https_suffix}"
# the generated certificate is checked against its CA; an operator's own against the system's CAs, unless it does
# not name EDGE_HOST (a public name's certificate, smoke-checked on 127.0.0.1): then only the handshake counts
smoke_tls=(--cacert secrets/tls_ca.pem)
if [[ -n ${TLS_CERT_FILE:-} ]]; then
  smoke_tls=(); openssl x509 -in "$TLS_CERT_FILE" -noout -checkip "$EDGE_HOST" 2>/dev/null | grep -q 'does match' \
    || openssl x509 -in "$TLS_CERT_FILE" -noout -checkhost "$EDGE_HOST" 2>/dev/null | grep -q 'does match' || smoke_tls=(-k)
fi
smoke_deadline=$((SECONDS + 90))
# /healthcheck/ready/: an api task reaches PostgreSQL AND Redis (through Pgpool and redis-proxy). Without it the deploy
# reported healthy while the Redis tier was still settling, and the first sign-up answered 503 "Session store
# unavailable" (CI, 2026-12-06: the web suite right after the deploy)
until curl "${smoke_tls[@]}" -fsS -o /dev/null --max-time 5 "$base/healthcheck/ready/" && curl "${smoke_tls[@]}" -fsS -o /dev/null --max-time 5 "$base/api/threads/" \
      && curl "${smoke_tls[@]}" -fsS -o /dev/null --max-time 5 "$base/" \
      && [[ $(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://${EDGE_HOST}:${EDGE_HTTP_PORT}/") == 301 ]]; do
  if ((SECONDS > smoke_deadline)); then
    log "smoke check through the edge failed:"
    for u in /healthcheck/ready/ /api/threads/ /; do printf '  GET %s -> ' "$u" >&2; curl "${smoke_tls[@]}" -sS -o /dev/null -w '%{http_code}\n' --max-time 5 "$base$u" >&2 || true; done
    printf '  GET http://%s:%s/ (redirect) -> ' "$EDGE_HOST" "$EDGE_HTTP_PORT" >&2; curl -sS -o /dev/null -w '%{http_code}\n' --max-time 5 "http://${EDGE_HOST}:${EDGE_HTTP_PORT}/" >&2 || true
    report_failure "${STACK}_nginx"; report_failure "${STACK}_api"
    exit 1
  fi
  sleep 1
done
log "smoke check passed (GET /healthcheck/ready/, /api/threads/, / over HTTPS; http:// redirects)"

# the URLs printed are the ones NGINX routes (configs/nginx/forum.conf): the webhooks only under /v1/
edge_url="https://${EDGE_HOST:-127.0.0.1}${https_suffix}"
others=
if [[ -n ${EDGE_VIP:-} ]]; then
  others="    Via the VIP: https://${EDGE_VIP}${https_suffix}/"
elif [[ -z ${DEPLOY_DOCKER_HOST:-} && ${EDGE_HOST:-127.0.0.1} =~ ^(127\.|localhost$) ]]; then
  host_ip=$(hostname -I 2>/dev/null | awk '{print $1}')
  [[ -z $host_ip ]] || others="    From other machines: https://${host_ip}${https_suffix}/"
fi
curl_ca=
if [[ -z ${TLS_CERT_FILE:-} ]]; then
  curl_ca="--cacert $root/secrets/tls_ca.pem "
  others+="${others:+
}    TLS:         certificate from the local CA $root/secrets/tls_ca.pem: trust it in your clients (curl --cacert ...)"
fi
cat >&2 <<MSG

  The forum is up (stack '$STACK', $((SECONDS - t0)) s):
    Forum:       $edge_url/        (API: $edge_url/api/threads/, liveness: $edge_url/healthcheck/)
${others:+$others
}    Admin:       user '${ADMIN_USERNAME:-admin}', password in $root/secrets/admin_password
    Rate limits: per client address at the edge; never limited: ${EDGE_RATE_LIMIT_EXEMPT:-nobody} (EDGE_RATE_LIMIT_EXEMPT)
    IP blocks:   $edge_url/ops/ipblock/v1/blocks   (GET list, POST {"ip","reason","ttlSeconds"}; DELETE .../blocks/<ip>)
                 hooks: $edge_url/ops/ipblock/v1/hooks/watcher  $edge_url/ops/ipblock/v1/hooks/kibana
    Autoscaler:  $edge_url/ops/autoscaler/v1/services   (GET; POST .../services/<name>/scale {"direction":"up"})
                 hooks: $edge_url/ops/autoscaler/v1/hooks/kapacitor  .../hooks/alertmanager  .../hooks/kibana
    Try:         curl ${curl_ca}-H "Authorization: Bearer \$(cat $root/secrets/ipblock_token)" $edge_url/ops/ipblock/v1/blocks
                 curl ${curl_ca}-H "Authorization: Bearer \$(cat $root/secrets/autoscaler_token)" $edge_url/ops/autoscaler/v1/services
    Status:      docker stack ps $STACK    Remove: npm run undeploy (keeps data; npm run undeploy -- --volumes deletes it)

MSG
