#!/usr/bin/env bash
# npm run deploy: a fresh Debian machine -> a healthy `forum` stack. Idempotent: re-running is a rolling update
# of whatever changed (images are tagged by content, secrets/configs named by content hash).
#
# Environment (all optional):
#   EDGE_HTTP_PORT=80        host port of the edge (NGINX, host mode)
#   REGISTRY=host:port       tag + push images there so every node of a multi-node swarm can pull them
#   INFLUX_URL=http://vm:8086  ship metrics to the external monitoring VM instead of the in-stack InfluxDB
#   DEPLOY_TIMEOUT=900       seconds to wait for every service to be healthy before failing
#   SKIP_BUILD=1             reuse the images of the last build (.build/image-tags.env)
#   STACK_NAME=forum
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
STACK=${STACK_NAME:-forum}
DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT:-900}
export EDGE_HTTP_PORT=${EDGE_HTTP_PORT:-80}
t0=$SECONDS
log() { printf '[deploy %4ds] %s\n' "$((SECONDS - t0))" "$*" >&2; }

# 1. engine + swarm, base image
bash scripts/lib/ensure-docker.sh
bash scripts/lib/base-image.sh

# 2. secrets (never overwritten)
bash secrets/generate.sh

# 3. images
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "building images"
  bash scripts/build-images.sh
fi
[[ -f .build/image-tags.env ]] || { log "no .build/image-tags.env: run without SKIP_BUILD"; exit 1; }
set -a; . .build/image-tags.env; set +a
if [[ -n ${REGISTRY:-} ]]; then export REGISTRY_PREFIX="$REGISTRY/"; fi

# 4. content hashes of every secret/config file the stack names (name: ..._${X_HASH:-v1})
while read -r var file; do
  [[ -f $file ]] || { log "missing file $file (referenced by docker-stack.yml)"; exit 1; }
  export "$var=$(sha256sum "$file" | cut -c1-12)"
done < <(awk '
  /^[a-z]/ { top=$1 }
  (top=="secrets:" || top=="configs:") && $1=="file:" { file=$2 }
  (top=="secrets:" || top=="configs:") && $1=="name:" && match($2, /\$\{[A-Z0-9_]+_HASH/) {
    print substr($2, RSTART+2, RLENGTH-2), file }' docker-stack.yml)

# 5. NGINX publishes in host mode: at most one replica per node
if [[ -z ${NGINX_REPLICAS:-} ]]; then
  nodes=$(( $(docker node ls -q | wc -l) ))
  NGINX_REPLICAS=$(( nodes < 3 ? nodes : 3 ))
  ((NGINX_REPLICAS == 3)) || log "NOTE: $nodes node(s): nginx runs $NGINX_REPLICAS replica(s) (host-mode port, one per node; 3 with 3+ nodes)"
fi
export NGINX_REPLICAS

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
docker stack config -c docker-stack.yml >.build/stack-rendered.yml
node scripts/lib/roll-data-tier.mjs "$STACK" .build/stack-rendered.yml
log "docker stack deploy $STACK"
deploy_epoch=$(date -u +%s)
docker stack deploy -c .build/stack-rendered.yml.labelled.yml --prune --resolve-image never --detach=true "$STACK" >.build/stack-deploy.log 2>&1 \
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
  sleep 2
done

# 8. remove secret/config objects of earlier deploys that no task uses any more (in-use ones refuse removal)
for kind in secret config; do
  docker "$kind" ls --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Name}}' | while read -r obj; do
    docker stack config -c docker-stack.yml 2>/dev/null | grep -q "name: $obj\$" || docker "$kind" rm "$obj" >/dev/null 2>&1 || true
  done
done

# 9. smoke check through the edge
base="http://127.0.0.1:${EDGE_HTTP_PORT}"
smoke_deadline=$((SECONDS + 90))
until curl -fsS -o /dev/null --max-time 5 "$base/healthcheck/" && curl -fsS -o /dev/null --max-time 5 "$base/api/threads/" \
      && curl -fsS -o /dev/null --max-time 5 "$base/"; do
  if ((SECONDS > smoke_deadline)); then
    log "smoke check through the edge failed:"
    for u in /healthcheck/ /api/threads/ /; do printf '  GET %s -> ' "$u" >&2; curl -sS -o /dev/null -w '%{http_code}\n' --max-time 5 "$base$u" >&2 || true; done
    report_failure "${STACK}_nginx"; report_failure "${STACK}_api"
    exit 1
  fi
  sleep 1
done
log "smoke check passed (GET /healthcheck/, /api/threads/, / through the edge)"

host_ip=$(hostname -I 2>/dev/null | awk '{print $1}')
cat >&2 <<MSG

  The forum is up (stack '$STACK', $((SECONDS - t0)) s):
    URL:        http://${host_ip:-127.0.0.1}:${EDGE_HTTP_PORT}/   (this machine: $base/)
    Admin:      user '${ADMIN_USERNAME:-admin}', password in $root/secrets/admin_password
    Webhooks:   $base/ops/ipblock/  $base/ops/autoscaler/  (bearer tokens: secrets/ipblock_token, secrets/autoscaler_token)
    Status:     docker stack ps $STACK    Remove: npm run undeploy (keeps data; --volumes deletes it)

MSG
