#!/usr/bin/env bash
# npm run undeploy [-- --volumes]: removes the `forum` stack and waits until it is gone. Data volumes
# (PostgreSQL, Redis, InfluxDB, backups) are kept unless --volumes is given. Secret files in secrets/ are kept.
#
# Options:
#   -v, --volumes     also delete the stack's data volumes (PostgreSQL, Redis, InfluxDB, backups): the data is gone
#   -h, --help        this text
# Environment:
#   STACK_NAME=forum  the stack to remove
set -euo pipefail
STACK=${STACK_NAME:-forum}
volumes=0
for a in "$@"; do
  case $a in
    --volumes|-v) volumes=1 ;;
    -h|--help)
      printf 'usage: npm run undeploy [-- --volumes]      (bash scripts/undeploy.sh)\n\n'
      sed -n '2,/^set -euo pipefail$/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0 ;;
    *) printf 'undeploy.sh: unknown argument %q (usage: undeploy.sh [--volumes], see --help)\n' "$a" >&2; exit 2 ;;
  esac
done
log() { printf '[undeploy] %s\n' "$*" >&2; }

if docker stack ls --format '{{.Name}}' | grep -qx "$STACK"; then
  log "removing stack $STACK"
  docker stack rm "$STACK" >/dev/null
fi
deadline=$((SECONDS + 120))
stack_containers() { docker ps -aq --filter "label=com.docker.stack.namespace=$STACK" "$@"; }
while stack_containers | grep -q . \
   || docker network ls -q --filter "label=com.docker.stack.namespace=$STACK" | grep -q .; do
  # A stopped container whose service is gone is an orphan Swarm never reaps (a daemon stopped while the stack was
  # being removed leaves them): remove those at once. Running ones get their stop_grace_period from Swarm; only at
  # the deadline are they killed, which PostgreSQL and Redis survive as a crash.
  if ! docker service ls -q --filter "label=com.docker.stack.namespace=$STACK" | grep -q .; then
    orphans=$(stack_containers --filter status=exited --filter status=created --filter status=dead)
    if ((SECONDS > deadline)); then orphans=$(stack_containers); fi
    if [[ -n $orphans ]]; then
      log "removing $(wc -w <<<"$orphans") container(s) left by the removed stack"
      xargs -r docker rm -f <<<"$orphans" >/dev/null || true
    fi
  fi
  if ((SECONDS > deadline + 10)); then log "stack resources still present after 130 s"; break; fi
  sleep 1
done
for kind in secret config; do
  docker "$kind" ls -q --filter "label=com.docker.stack.namespace=$STACK" | xargs -r docker "$kind" rm >/dev/null 2>&1 || true
done
# npm test's record that it created this stack (scripts/test.sh): the stack is gone, so is the claim
docker config rm "${STACK}-created-by-npm-test" >/dev/null 2>&1 || true
if ((volumes)); then
  log "removing data volumes"
  docker volume ls -q --filter "label=com.docker.stack.namespace=$STACK" | xargs -r docker volume rm >/dev/null
else
  n=$(docker volume ls -q --filter "label=com.docker.stack.namespace=$STACK" | wc -l)
  ((n == 0)) || log "kept $n data volume(s) (npm run undeploy -- --volumes removes them)"
fi
log "done"
