#!/usr/bin/env bash
# Builds every image of the stack: images/<name>/Dockerfile -> forum/<name>:<content tag>.
#
# Build conventions (all images):
# - images/base is the base of every shell-entrypoint image: FROM ${BASE_IMAGE} (ARG BASE_IMAGE=debian:trixie-slim,
#   scripts/lib/base-image.sh provides it), resolver options, /usr/local/lib/forum/lib.sh (JSON log, file_env,
#   start_loop), run-service and loop-alive. The others start with `ARG FORUM_BASE=forum/base:latest` /
#   `FROM ${FORUM_BASE}`; this script builds base first and passes FORUM_BASE=forum/base:<its content tag>.
#   images/node (and the test cluster's cluster-node) build FROM ${BASE_IMAGE} directly: the Node services keep
#   glibc's default resolver options.
# - The CLASSIC builder is used (DOCKER_BUILDKIT=0): this engine (Debian docker.io 20.10) has no buildx, so
#   BuildKit-only syntax (COPY --chmod, RUN --mount, heredocs) is not available: chmod in a RUN instead.
# - Build context = the image's own folder (images/<name>/), except: images/node uses .build/node-app (staged on the
#   host by scripts/lib/prepare-node-app.sh); images/nginx the repo root (configs/nginx, see .dockerignore);
#   images/sentinel images/ (it COPYs the redis image's redis/redis-lib.sh). See context_of below.
# - images/node is built first; others may `ARG NODE_IMAGE` / `FROM ${NODE_IMAGE}` to copy compiled code from it.
# - Each image gets a CONTENT tag, computed before building from what the commit determines: the Dockerfile, the
#   files its COPY/ADD lines take from the context (path, executable bit, bytes), BASE_IMAGE (its name), the base and
#   node images' tags for the images built on them, and IMAGE_TAG_SALT. Not the image ID: it holds build timestamps, so
#   any rebuild of the same sources (another clone, another machine, a pruned build cache) would get a new tag and
#   roll every service. When forum/<name>:<tag> exists already it is reused without building. Trade-off: packages that the Dockerfiles apt-get install are not in the tag (the build
#   cache never refreshed them either): set IMAGE_TAG_SALT (e.g. to the month) to rebuild and roll every image
#   with current Debian updates.
#   Tags go to .build/image-tags.env as <NAME>_TAG=... (name upper-cased, '-' -> '_'); docker-stack.yml uses
#   ${<NAME>_TAG:-latest}, so only changed images roll.
# - REGISTRY=host:port: images are also tagged <registry>/forum/<name>:<tag> and pushed.
#
# Usage: scripts/build-images.sh [--tags-only] [name...]   (default: every images/*/Dockerfile)
#   --tags-only: stage the Node app and print NAME_TAG=<tag> lines, build nothing
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

tags_only=0
names=()
for a in "$@"; do
  case $a in
    --tags-only) tags_only=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-images.sh: unknown option $a (see --help)" >&2; exit 2 ;;
    *) names+=("$a") ;;
  esac
done
if ((${#names[@]} == 0)); then
  # cluster-node is the test cluster's Docker-in-Docker node (scripts/cluster-up.sh), not a stack image
  for f in images/*/Dockerfile; do n=$(basename "$(dirname "$f")"); [[ $n == cluster-node ]] || names+=("$n"); done
fi
# base with any image built on it (its tag is part of theirs)
for m in "${names[@]}"; do
  if [[ $m != base ]] && grep -qs FORUM_BASE "images/$m/Dockerfile" && [[ " ${names[*]} " != *" base "* ]]; then names+=(base); fi
done
# node and base first (others are built on them), nginx right after them
ordered=()
for n in node base nginx; do for m in "${names[@]}"; do [[ $m == "$n" ]] && ordered+=("$n"); done; done
for m in "${names[@]}"; do [[ $m == node || $m == base || $m == nginx ]] || ordered+=("$m"); done

set_tag() { # NAME_TAG value
  local var=$1 val=$2
  grep -v "^${var}=" "$tags_file" >"$tags_file.tmp" || true
  printf '%s=%s\n' "$var" "$val" >>"$tags_file.tmp"
  mv "$tags_file.tmp" "$tags_file"
}

context_of() { # name -> build context directory
  case $1 in
    node) echo .build/node-app ;;
    nginx) echo . ;;
    sentinel) echo images ;;
    *) echo "images/$1" ;;
  esac
}

# The sources of the Dockerfile's COPY/ADD lines that come from the build context (not --from=<stage>).
copy_sources() { # Dockerfile
  awk 'toupper($1) == "COPY" || toupper($1) == "ADD" {
         from = 0; n = 0
         for (i = 2; i <= NF; i++) { if ($i ~ /^--from=/) from = 1; else if ($i !~ /^--/) arg[++n] = $i }
         if (!from) for (i = 1; i < n; i++) print arg[i]
       }' "$1"
}

# One line per file under the given paths (relative to the context): path, executable bit, sha256 (symlinks: their
# target). Modes other than the executable bit, owners and mtimes are not in it: a checkout does not determine them.
tree_digest() { # context paths...
  local ctx=$1; shift
  (
    cd "$ctx"
    shopt -s nullglob
    local -a paths=()
    for p in "$@"; do paths+=($p); done # COPY sources may be globs
    ((${#paths[@]})) || exit 0
    find "${paths[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    find "${paths[@]}" -type f -perm /111 -print0 | LC_ALL=C sort -z | xargs -0 -r printf 'x %s\n'
    find "${paths[@]}" -type l -printf 'l %p %l\n' | LC_ALL=C sort
  )
}

content_tag() { # name [node tag]: prints the content tag of forum/<name>
  local name=$1 node_tag=${2:-} base_tag=${3:-} df=images/$1/Dockerfile ctx
  ctx=$(context_of "$name")
  local -a srcs=()
  mapfile -t srcs < <(copy_sources "$df")
  {
    printf 'image %s\nbase %s\nsalt %s\n' "$name" "$BASE_IMAGE" "${IMAGE_TAG_SALT:-}"
    # only an image that takes them as build arguments depends on them: base's own Dockerfile names FORUM_BASE in a
    # comment, and matching that made base's tag depend on its previous tag, so every deploy rolled every image
    grep -q '^ARG NODE_IMAGE' "$df" && printf 'node %s\n' "$node_tag"
    grep -q '^ARG FORUM_BASE' "$df" && printf 'forum-base %s\n' "$base_tag"
    cat "$df"
    tree_digest "$ctx" "${srcs[@]}"
  } | sha256sum | cut -c1-12
}

# when node is not rebuilt in this run, images FROM it use the node image of the last build
node_tag=$(sed -n 's/^NODE_TAG=//p' "$tags_file" | tail -1)
base_tag=$(sed -n 's/^BASE_TAG=//p' "$tags_file" | tail -1)
build_one() { # name: builds forum/<name>:<content tag> unless it exists, records <NAME>_TAG in .build/tags/<name>
  local name=$1 df ctx start tag var
  df=images/$name/Dockerfile
  [[ -f $df ]] || { log "no $df"; return 1; }
  ctx=$(context_of "$name")
  [[ $name == node ]] && bash scripts/lib/prepare-node-app.sh
  tag=$(content_tag "$name" "$node_tag" "$base_tag")
  var=$(printf '%s' "$name" | tr '[:lower:]-' '[:upper:]_')_TAG
  if ((tags_only)); then printf '%s %s\n' "$var" "$tag" >".build/tags/$name"; return 0; fi
  start=$SECONDS
  if docker image inspect "forum/$name:$tag" >/dev/null 2>&1; then
    docker tag "forum/$name:$tag" "forum/$name:latest"
    log "$name -> forum/$name:$tag (unchanged: reused)"
  else
    log "$name (context $ctx) ..."
    if ! docker build -f "$df" -t "forum/$name:$tag" -t "forum/$name:latest" \
          --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "NODE_IMAGE=forum/node:${node_tag:-latest}" \
          --build-arg "FORUM_BASE=forum/base:${base_tag:-latest}" \
          "$ctx" >".build/logs/$name.log" 2>&1; then
      log "FAILED to build forum/$name; last lines of .build/logs/$name.log:"
      tail -25 ".build/logs/$name.log" >&2
      return 1
    fi
    log "$name -> forum/$name:$tag ($((SECONDS - start)) s)"
  fi
  printf '%s %s\n' "$var" "$tag" >".build/tags/$name"
  if [[ -n $REGISTRY ]]; then
    docker tag "forum/$name:$tag" "$REGISTRY/forum/$name:$tag"
    docker push -q "$REGISTRY/forum/$name:$tag" >>".build/logs/$name.log" 2>&1 || { log "push of $REGISTRY/forum/$name:$tag failed"; tail -5 ".build/logs/$name.log" >&2; return 1; }
  fi
}

# node and base alone first (nginx copies from node; the others build on base); then the rest BUILD_JOBS at a time: most of a cold build is apt
# downloading and unpacking packages, which overlaps well even on 2 cores
rm -rf .build/tags; mkdir -p .build/tags
rest=()
for name in "${ordered[@]}"; do
  if [[ $name == node ]]; then
    build_one node
    read -r _ node_tag <.build/tags/node
  elif [[ $name == base ]]; then
    build_one base
    read -r _ base_tag <.build/tags/base
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
if ((tags_only)); then
  for name in "${ordered[@]}"; do read -r var t <".build/tags/$name"; printf '%s=%s\n' "$var" "$t"; done
  exit 0
fi
for name in "${ordered[@]}"; do
  if [[ -f .build/tags/$name ]]; then read -r var t <".build/tags/$name"; set_tag "$var" "$t"; else missing+=("$name"); fi
done
((${#missing[@]} == 0)) || { log "FAILED: ${missing[*]} (see above)"; exit 1; }
