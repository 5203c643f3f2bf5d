#!/usr/bin/env bash
# The shell library of every image's entrypoint, installed by the base image (images/base) as
# /usr/local/lib/forum/lib.sh. Set LOG_TAG before sourcing it (the log line's "service"; default: the script's name).
#
# log/warn/error/die write ONE JSON line to stderr, in the Node services' (pino's) shape, so the log-shipper and
# Kibana read every container the same way: {"level","time","service","host","msg"}.
json_str() { # string -> JSON string literal (quotes, backslashes and control characters escaped)
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
  s=${s//[$'\x01'-$'\x1f']/?}
  printf '"%s"' "$s"
}
log_at() { # level message...
  local level=$1; shift
  printf '{"level":"%s","time":"%s","service":%s,"host":%s,"msg":%s}\n' "$level" "$(date -u +%FT%T.%3NZ)" \
    "$(json_str "${LOG_TAG:-${0##*/}}")" "$(json_str "${HOSTNAME:-}")" "$(json_str "$*")" >&2
}
log() { log_at info "$@"; }
warn() { log_at warn "$@"; }
error() { log_at error "$@"; }
die() { log_at fatal "$@"; exit 1; }
# file_env [--file-only] VAR [default]: the value of VAR or of the file VAR_FILE names (a Docker secret), never
# both; sets VAR as a shell variable NOT exported (a value given in the environment is un-exported too), unsets
# VAR_FILE. So no child sees the secret in its environment (/proc/<pid>/environ): a caller hands it on through a
# mode-600 file, stdin or a rendered config, never through `export` or a command-line argument (docs/SECURITY.md).
# --file-only: VAR itself may not be set (secrets only from files), VAR_FILE is required.
file_env() {
  local only=0
  [[ $1 == --file-only ]] && { only=1; shift; }
  local var="$1" fileVar="${1}_FILE" def="${2:-}"
  if [[ -n "${!var:-}" && -n "${!fileVar:-}" ]]; then die "both $var and $fileVar are set"; fi
  if ((only)); then
    [[ -z "${!var:-}" ]] || die "set $fileVar (a Docker secret), not $var"
    [[ -r "${!fileVar:-}" ]] || die "$fileVar must name a readable secret file"
  fi
  local val="$def"
  if [[ -n "${!var:-}" ]]; then val="${!var}"
  elif [[ -n "${!fileVar:-}" ]]; then
    [[ -r "${!fileVar}" ]] || die "$fileVar=${!fileVar} is not readable"
    val="$(< "${!fileVar}")"
  fi
  printf -v "$var" '%s' "$val"
  export -n "$var"
  unset "$fileVar"
}
# start_loop NAME COMMAND...: runs a control loop (a named script) in the background and records its PID in
# /tmp/NAME.pid; the image's healthcheck fails while that process is gone (loop_alive), so Swarm restarts the task.
start_loop() {
  local name=$1; shift
  "$@" &
  printf '%s\n' "$!" >"/tmp/$name.pid"
}
