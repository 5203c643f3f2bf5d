#!/usr/bin/env bash
# Builds every image of the stack: images/<name>/Dockerfile -> forum/<name>:<content tag>.
#
# Build conventions (all images):
# - FROM ${BASE_IMAGE} (ARG BASE_IMAGE=debian:trixie-slim); scripts/lib/base-image.sh provides it.
# - The CLASSIC builder is used (DOCKER_BUILDKIT=0): this engine (Debian docker.io 20.10) has no buildx, so
#   BuildKit-only syntax (COPY --chmod, RUN --mount, heredocs) is not available: chmod in a RUN instead.
# - Build context = the image's own folder (images/<name>/), unless the Dockerfile's first line is
#   `# context: <dir>` (relative to the repo root; `repo-root` = the repo root, see .dockerignore).
#   The data-tier images (postgres, pgpool, redis, sentinel) use `# context: images` to COPY images/common/lib.sh.
#   images/node uses .build/node-app, staged on the host by scripts/lib/prepare-node-app.sh.
# - images/node is built first; others may `ARG NODE_IMAGE` / `FROM ${NODE_IMAGE}` to copy compiled code from it.
# - Each image gets a tag derived from its image ID, written to .build/image-tags.env as <NAME>_TAG=... (name
#   upper-cased, '-' -> '_'); docker-stack.yml uses ${<NAME>_TAG:-latest}, so only changed images roll.
# - REGISTRY=host:port: images are also tagged <registry>/forum/<name>:<tag> and pushed.
#
# Usage: scripts/build-images.sh [name...]     (default: every images/*/Dockerfile)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export DOCKER_BUILDKIT=0
BASE_IMAGE=${BASE_IMAGE:-debian:trixie-slim}
REGISTRY=${REGISTRY:-}
mkdir -p .build/logs
tags_file=.build/image-tags.env
touch "$tags_file"
log() { printf '[build] %s\n' "$*" >&2; }

names=("$@")
if ((${#names[@]} == 0)); then
  for f in images/*/Dockerfile; do names+=("$(basename "$(dirname "$f")")"); done
fi
# node first (others may copy from it), nginx right after it
ordered=()
for n in node nginx; do for m in "${names[@]}"; do [[ $m == "$n" ]] && ordered+=("$n"); done; done
for m in "${names[@]}"; do [[ $m == node || $m == nginx ]] || ordered+=("$m"); done

set_tag() { # NAME_TAG value
  local var=$1 val=$2
  grep -v "^${var}=" "$tags_file" >"$tags_file.tmp" || true
  printf '%s=%s\n' "$var" "$val" >>"$tags_file.tmp"
  mv "$tags_file.tmp" "$tags_file"
}

node_ref=forum/node:latest
build_one() { # name: builds forum/<name>, tags it by content, records <NAME>_TAG in .build/tags/<name>
  local name=$1 df ctx first start id tag var
  df=images/$name/Dockerfile
  [[ -f $df ]] || { log "no $df"; return 1; }
  ctx=images/$name
  first=$(head -1 "$df")
  if [[ $first =~ ^#\ context:\ (.+)$ ]]; then ctx=${BASH_REMATCH[1]}; [[ $ctx == repo-root ]] && ctx=.; fi
  [[ $name == node ]] && bash scripts/lib/prepare-node-app.sh
  start=$SECONDS
  log "$name (context $ctx) ..."
  if ! docker build -f "$df" -t "forum/$name:latest" \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "NODE_IMAGE=$node_ref" \
        "$ctx" >".build/logs/$name.log" 2>&1; then
    log "FAILED to build forum/$name; last lines of .build/logs/$name.log:"
    tail -25 ".build/logs/$name.log" >&2
    return 1
  fi
  id=$(docker image inspect -f '{{.Id}}' "forum/$name:latest")
  tag=${id#sha256:}; tag=${tag:0:12}
  docker tag "forum/$name:latest" "forum/$name:$tag"
  var=$(printf '%s' "$name" | tr '[:lower:]-' '[:upper:]_')_TAG
  printf '%s %s\n' "$var" "$tag" >".build/tags/$name"
  if [[ -n $REGISTRY ]]; then
    docker tag "forum/$name:$tag" "$REGISTRY/forum/$name:$tag"
    docker push -q "$REGISTRY/forum/$name:$tag" >>".build/logs/$name.log" 2>&1 || { log "push of $REGISTRY/forum/$name:$tag failed"; tail -5 ".build/logs/$name.log" >&2; return 1; }
  fi
  log "$name -> forum/$name:$tag ($((SECONDS - start)) s)"
}

# node alone first (nginx copies from it); then the rest BUILD_JOBS at a time: most of a cold build is apt
# downloading and unpacking packages, which overlaps well even on 2 cores
rm -rf .build/tags; mkdir -p .build/tags
rest=()
for name in "${ordered[@]}"; do
  if [[ $name == node ]]; then
    build_one node
    read -r _ t <.build/tags/node; node_ref=forum/node:$t
  else
    rest+=("$name")
  fi
done
jobs_max=${BUILD_JOBS:-4}
for name in "${rest[@]}"; do
  while (( $(jobs -rp | wc -l) >= jobs_max )); do wait -n || true; done
  build_one "$name" &
done
wait || true
missing=()
for name in "${ordered[@]}"; do
  if [[ -f .build/tags/$name ]]; then read -r var t <".build/tags/$name"; set_tag "$var" "$t"; else missing+=("$name"); fi
done
((${#missing[@]} == 0)) || { log "FAILED: ${missing[*]} (see above)"; exit 1; }
