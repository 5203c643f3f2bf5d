#!/usr/bin/env bash
# Shared shell preamble of the data-tier entrypoints (redis, sentinel, pgpool, postgres), installed in every
# one of those images as /usr/local/lib/forum/lib.sh. Set LOG_TAG before sourcing it (the log line's [tag]).
# Build context of those images = images/ (first Dockerfile line `# context: images`), so they can COPY common/.
log() { printf '%s [%s] %s\n' "$(date -u +%FT%T.%3NZ)" "${LOG_TAG:-${0##*/}}" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
# file_env VAR [default]: VAR or VAR_FILE (Docker secret), never both; exports VAR, unsets VAR_FILE.
file_env() {
  local var="$1" fileVar="${1}_FILE" def="${2:-}"
  if [[ -n "${!var:-}" && -n "${!fileVar:-}" ]]; then die "both $var and $fileVar are set"; fi
  local val="$def"
  if [[ -n "${!var:-}" ]]; then val="${!var}"
  elif [[ -n "${!fileVar:-}" ]]; then
    [[ -r "${!fileVar}" ]] || die "$fileVar=${!fileVar} is not readable"
    val="$(< "${!fileVar}")"
  fi
  export "$var"="$val"
  unset "$fileVar"
}
