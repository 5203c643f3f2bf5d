#!/usr/bin/env bash
# PostgreSQL 17 + repmgr node for Swarm (one service per node: pg-0, pg-1, pg-2).
#
# Start-up decision (see docs/DATA-TIER.md, "Several nodes: bootstrap or clone"):
#   empty data dir   -> clone from the current primary. Only the bootstrap node (pg-0) may initdb, and only when
#                       EVERY peer is reachable and reports an empty data dir through its witness (port
#                       PG_WITNESS_PORT, answered while it waits), or PG_BOOTSTRAP=force. Otherwise it waits
#                       (healthcheck failing) and clones once a primary appears: an empty volume after a move, on
#                       the minority side of a partition or with a peer down is never a second cluster.
#   standby data     -> start as standby, then `repmgr standby follow` the current primary
#                       (falls back to rejoin --force-rewind, then to a re-clone).
#   primary data     -> FENCE: never start as primary while a peer is primary. If a peer is primary ->
#                       `repmgr node rejoin --force-rewind` (fallback re-clone). Otherwise wait
#                       FENCE_WAIT_SECONDS (longer than a repmgrd failover) and start as primary only
#                       if a majority of the cluster (self + >=1 peer) answers, no peer is primary and no peer's
#                       repmgr metadata names another node as the active primary (the cluster moved on).
# Then run repmgrd and supervise: the container exits if PostgreSQL stays down.
set -Eeuo pipefail

LOG_TAG=pg-entrypoint
source /usr/local/lib/forum/lib.sh   # log, die, file_env VAR [default] (images/base/lib.sh)

file_env POSTGRES_PASSWORD
file_env REPMGR_PASSWORD
file_env APP_PASSWORD
file_env MONITOR_PASSWORD   # forum_monitor's (metrics-agent); optional: no role without it
file_env MIGRATOR_PASSWORD  # forum_migrator's (the api's migrations); optional: without it the app role keeps owning the schema
[[ -n "$POSTGRES_PASSWORD" ]] || die "POSTGRES_PASSWORD_FILE (secret pg_superuser_password) is required"
[[ -n "$REPMGR_PASSWORD" ]] || die "REPMGR_PASSWORD_FILE (secret pg_repmgr_password) is required"

: "${NODE_NAME:?NODE_NAME is required (pg-0, pg-1 or pg-2)}"
PG_NODES="${PG_NODES:-pg-0,pg-1,pg-2}"
BOOTSTRAP_NODE="${BOOTSTRAP_NODE:-pg-0}"
APP_DB="${APP_DB:-forum}"
APP_USER="${APP_USER:-forum}"
FENCE_WAIT_SECONDS="${FENCE_WAIT_SECONDS:-30}"
PG_WITNESS_PORT="${PG_WITNESS_PORT:-5433}"
PG_BOOTSTRAP="${PG_BOOTSTRAP:-}"
# read by healthcheck.sh: "witness" = empty, waiting for the cluster's first primary (reported healthy, see below)
STATE_FILE=/tmp/pg-member-state
# present from initdb until the bootstrap node's repmgr registration: a data dir that still has it is a bootstrap that
# died half-way (e.g. a setup step timed out on an overloaded machine). Such a primary is unregistered, so the empty
# peers never clone from it and it would wait behind the fence for good; it is redone once every peer is still empty.
BOOTSTRAP_MARKER="$PGDATA/forum-bootstrap-incomplete"
PG_MAX_CONNECTIONS="${PG_MAX_CONNECTIONS:-200}"
PG_SHARED_BUFFERS="${PG_SHARED_BUFFERS:-128MB}"
REPMGR_RECONNECT_ATTEMPTS="${REPMGR_RECONNECT_ATTEMPTS:-2}"
REPMGR_RECONNECT_INTERVAL="${REPMGR_RECONNECT_INTERVAL:-1}"
REPMGR_MONITOR_INTERVAL="${REPMGR_MONITOR_INTERVAL:-1}"
# SCRAM iterations of the repmgr role's verifier. Its logins are the idle stack's most frequent: every repmgrd's
# connection check (a whole login each second, connection_check_type=ping in repmgr.conf) and Pgpool's health and
# streaming checks, ~7.5 a second over the three members. The client side of a SCRAM login (repmgrd, Pgpool) runs
# PBKDF2 with the server's iteration count: 4096 (PostgreSQL's default) cost ~3.7 ms of CPU per login here, 256
# costs ~0.3 ms. The price: a stolen verifier is 16x cheaper to brute-force offline, which does not matter for this
# password, a random secret of secrets/generate.sh, out of reach of any dictionary at either count. An operator
# who sets a guessable pg_repmgr_password of their own should set 4096 back (docs/SECURITY.md).
REPMGR_SCRAM_ITERATIONS="${REPMGR_SCRAM_ITERATIONS:-256}"
[[ $REPMGR_SCRAM_ITERATIONS =~ ^[1-9][0-9]{0,6}$ ]] || die "REPMGR_SCRAM_ITERATIONS must be a positive integer, got '$REPMGR_SCRAM_ITERATIONS'"
REPMGR_PRIORITY="${REPMGR_PRIORITY:-100}"
BIN=/usr/lib/postgresql/${PG_MAJOR}/bin
CONF=/etc/repmgr/repmgr.conf
export PGDATA PGCONNECT_TIMEOUT=2

IFS=, read -r -a NODES <<<"$PG_NODES"
NODE_ID=0; PEERS=()
for i in "${!NODES[@]}"; do
  if [[ "${NODES[$i]}" == "$NODE_NAME" ]]; then NODE_ID=$((i + 1)); else PEERS+=("${NODES[$i]}"); fi
done
(( NODE_ID > 0 )) || die "NODE_NAME=$NODE_NAME is not in PG_NODES=$PG_NODES"

write_configs() {
  umask 077
  printf '*:*:*:repmgr:%s\n*:*:replication:repmgr:%s\n' "$REPMGR_PASSWORD" "$REPMGR_PASSWORD" > "$HOME/.pgpass"
  chmod 600 "$HOME/.pgpass"
  umask 022
  local names; names=$(printf '"%s",' "${NODES[@]}"); names=${names%,}
  sed -e "s/@MAX_CONNECTIONS@/${PG_MAX_CONNECTIONS}/" -e "s/@SHARED_BUFFERS@/${PG_SHARED_BUFFERS}/" \
      -e "s/@SYNC_NAMES@/${names}/" /etc/postgresql/templates/postgresql.conf > /etc/postgresql/conf.d/10-forum.conf
  cp /etc/postgresql/templates/pg_hba.conf /etc/postgresql/pg_hba.conf
  sed -e "s/@NODE_ID@/${NODE_ID}/" -e "s/@NODE_NAME@/${NODE_NAME}/" -e "s#@PGDATA@#${PGDATA}#" -e "s#@BIN@#${BIN}#g" \
      -e "s/@PRIORITY@/${REPMGR_PRIORITY}/" -e "s/@RECONNECT_ATTEMPTS@/${REPMGR_RECONNECT_ATTEMPTS}/" \
      -e "s/@RECONNECT_INTERVAL@/${REPMGR_RECONNECT_INTERVAL}/" -e "s/@MONITOR_INTERVAL@/${REPMGR_MONITOR_INTERVAL}/" \
      /etc/postgresql/templates/repmgr.conf > "$CONF"
}

# the data dir's postgresql.conf only includes the generated config (also after clone/rewind)
ensure_include() {
  grep -q "^include_dir = '/etc/postgresql/conf.d'" "$PGDATA/postgresql.conf" 2>/dev/null ||
    echo "include_dir = '/etc/postgresql/conf.d'" >> "$PGDATA/postgresql.conf"
}

# peer_state HOST -> "primary" | "standby" | "down". A peer counts as primary only when it is out of
# recovery AND repmgr's metadata on it already says so (promotion finished), so rejoin can use it.
# PG_PEER_CONNECT_TIMEOUT (6 s): how long a peer may take to answer before it counts as down. The last-resort
# promotion below needs a majority to answer; at 2 s, under the load of a drain on the 3-node test cluster (load
# average 60-70 on 2 cores), live standbys read as down for minutes, the majority never formed and writes waited
# for the drained primary to return (2026-12-06). The price: a peer that is unreachable but still resolves (a lost
# node before Swarm drops its name) holds a scan up to 6 s; the peers are asked in parallel, so it is one wait.
PEER_CONNECT_TIMEOUT=${PG_PEER_CONNECT_TIMEOUT:-6}
peer_state() {
  local r
  r=$(psql "host=$1 port=5432 user=repmgr dbname=repmgr connect_timeout=$PEER_CONNECT_TIMEOUT" -XAtqc \
      "select case when pg_is_in_recovery() then 't' when exists (select 1 from repmgr.nodes where node_name = '$1' and type = 'primary' and active) then 'f' else 'p' end" 2>/dev/null) || { echo down; return; }
  case "$r" in f) echo primary ;; t) echo standby ;; p) echo promoting ;; *) echo down ;; esac
}
# sets PRIMARY (peer name or empty) and ANSWERING (count of peers that answered)
# (the peers are asked at once, each answer in a file; a trapped TERM interrupts the builtin `wait`)
SCAN_DIR=$(mktemp -d /tmp/pg-scan.XXXXXX)
scan_peers() {
  PRIMARY=""; ANSWERING=0
  local p s pids=()
  # only these children: repmgrd and the witness are background children of this shell too
  for p in "${PEERS[@]}"; do peer_state "$p" > "$SCAN_DIR/$p" & pids+=($!); done
  wait "${pids[@]}"
  for p in "${PEERS[@]}"; do
    s=$(<"$SCAN_DIR/$p")
    [[ "$s" != down ]] && ANSWERING=$((ANSWERING + 1))
    [[ "$s" == primary && -z "$PRIMARY" ]] && PRIMARY="$p"
  done
  return 0
}
# the active primary that a peer's repmgr metadata records (replicated from whichever primary it last followed)
peer_recorded_primary() {
  psql "host=$1 port=5432 user=repmgr dbname=repmgr connect_timeout=2" -XAtqc \
    "select node_name from repmgr.nodes where type = 'primary' and active order by node_id limit 1" 2>/dev/null || true
}
# a peer that records another active primary than this node: this node's primary data is from before a failover
stale_primary_evidence() {
  local p r
  for p in "${PEERS[@]}"; do
    r=$(peer_recorded_primary "$p")
    if [[ -n "$r" && "$r" != "$NODE_NAME" ]]; then echo "$p records $r as primary"; return 0; fi
  done
  return 1
}

# The witness: an empty member waiting for a primary answers "empty <name>" on PG_WITNESS_PORT (perl from
# perl-base, no extra package), and healthcheck.sh reports it healthy so that the task is in Docker's DNS (a task
# is resolvable only once healthy; nothing else could tell the bootstrap node that it is empty). Trade-off: during a
# first deploy, or while the whole cluster has no primary, `docker service ls` shows such a member 1/1 although it
# serves nothing; pgpool sees its port 5432 refused and keeps it detached. The bootstrap node never runs a witness.
WITNESS_PID=""
witness_start() {
  [[ -n "$WITNESS_PID" ]] && return 0
  perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(LocalPort => $ARGV[0], Listen => 8, ReuseAddr => 1, Proto => "tcp") or die "witness: $!\n";
    while (my $c = $s->accept) { print $c "$ARGV[1]\n"; close $c; }' "$PG_WITNESS_PORT" "empty $NODE_NAME" &
  WITNESS_PID=$!
  echo witness > "$STATE_FILE"
  log "empty data dir and no primary: witness on port $PG_WITNESS_PORT (reported healthy so the bootstrap node can see it)"
}
witness_stop() {
  echo starting > "$STATE_FILE"
  [[ -n "$WITNESS_PID" ]] || return 0
  kill "$WITNESS_PID" 2>/dev/null || true; wait "$WITNESS_PID" 2>/dev/null || true; WITNESS_PID=""
}
# what a peer's witness says ("empty <name>"), or nothing (not waiting empty, or unreachable)
peer_witness() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && IFS= read -r -t 2 l <&3 && printf "%s" "$l"' _ "$1" "$PG_WITNESS_PORT" 2>/dev/null || true
}
# bootstrap_allowed: every peer's witness reports an empty data dir (the whole cluster's first start), or forced.
# Sets WHY_NOT when refused.
bootstrap_allowed() {
  WHY_NOT=""
  if [[ "$PG_BOOTSTRAP" == force ]]; then log "PG_BOOTSTRAP=force: initialising without asking the peers"; return 0; fi
  local p w
  for p in "${PEERS[@]}"; do
    w=$(peer_witness "$p")
    [[ "$w" == "empty $p" ]] || WHY_NOT+=" $p:${w:-unreachable or has data}"
  done
  [[ -z "$WHY_NOT" ]]
}
node_id_of() { local i; for i in "${!NODES[@]}"; do [[ "${NODES[$i]}" == "$1" ]] && echo $((i + 1)); done; }

pg_running() { pg_ctl -D "$PGDATA" status >/dev/null 2>&1; }
# the supervisor's once-a-second check, without forking: the postmaster's pid (first line of postmaster.pid) is alive
pg_alive() { local pid; { read -r pid < "$PGDATA/postmaster.pid"; } 2>/dev/null && [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; }
pg_start() { pg_ctl -D "$PGDATA" -w -t 300 -l /proc/1/fd/2 start >/dev/null; }
pg_stop() { pg_running && pg_ctl -D "$PGDATA" -w -t 60 -m fast stop >/dev/null || true; }

cluster_state() { pg_controldata -D "$PGDATA" 2>/dev/null | sed -n 's/^Database cluster state: *//p'; }

# after a crash the data dir is not cleanly shut down: pg_rewind/rejoin need a clean one.
# single-user mode runs crash recovery without accepting any connection (cannot act as a primary).
clean_shutdown() {
  local st; st=$(cluster_state)
  case "$st" in
    "shut down"|"shut down in recovery") return 0 ;;
  esac
  log "data dir state '$st': running crash recovery in single-user mode"
  local sig=""
  for f in standby.signal recovery.signal; do [[ -f "$PGDATA/$f" ]] && { mv "$PGDATA/$f" "$PGDATA/$f.hold"; sig="$sig $f"; }; done
  postgres --single -D "$PGDATA" -c config_file="$PGDATA/postgresql.conf" template1 </dev/null >/dev/null 2>&1 || true
  for f in $sig; do mv "$PGDATA/$f.hold" "$PGDATA/$f"; done
  log "data dir state now '$(cluster_state)'"
}

wipe_data() { log "removing local data dir contents for a re-clone"; find "$PGDATA" -mindepth 1 -delete; }

clone_from() {
  local src="$1"
  log "cloning from $src"
  # a clone is no failover step: a busy source gets 15 s to accept the connection, not the peers' 2 s
  PGCONNECT_TIMEOUT=15 repmgr -f "$CONF" -h "$src" -U repmgr -d repmgr standby clone --fast-checkpoint -F >&2
  rm -f "$BOOTSTRAP_MARKER" # copied only if the clone raced the source's last bootstrap step
  ensure_include
  pg_start
  repmgr -f "$CONF" standby register -F --upstream-node-id="$(node_id_of "$src")" --wait-sync=60 >&2 || \
    repmgr -f "$CONF" standby register -F >&2
}

rejoin_to() {
  local src="$1"
  pg_stop
  clean_shutdown
  log "rejoining as standby of $src (pg_rewind if diverged)"
  local try
  for try in 1 2 3; do
    if repmgr -f "$CONF" node rejoin -d "host=$src port=5432 user=repmgr dbname=repmgr connect_timeout=2" \
         --force-rewind --config-files=postgresql.conf,postgresql.auto.conf --verbose >&2; then
      ensure_include
      pg_running || pg_start
      return 0
    fi
    pg_stop; clean_shutdown; sleep 2
  done
  log "rejoin failed: re-cloning"
  pg_stop
  wipe_data
  clone_from "$src"
}

# psql_set NAME VALUE: a psql `\set` line for stdin (backslash and quote escaped inside psql's single quotes)
psql_set() {
  local q="'" v=${2//\\/\\\\}
  v=${v//$q/$q$q}
  printf '\\set %s %s%s%s\n' "$1" "$q" "$v" "$q"
}

bootstrap_primary() {
  log "initialising a new cluster on $NODE_NAME (bootstrap node)"
  local pw; pw=$(mktemp); printf '%s' "$POSTGRES_PASSWORD" > "$pw"
  initdb -D "$PGDATA" -U postgres --pwfile="$pw" -E UTF8 --locale=C.UTF-8 --data-checksums --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  rm -f "$pw"
  : > "$BOOTSTRAP_MARKER"
  ensure_include
  pg_start
  # no standby exists yet: this session must not wait for a synchronous standby
  # the passwords reach psql on stdin (\set), never as `-v name=value` arguments (visible in /proc/<pid>/cmdline)
  { psql_set repmgr_pw "$REPMGR_PASSWORD"; psql_set app_pw "${APP_PASSWORD:-}"; cat; } <<'SQL' |
SET scram_iterations = :repmgr_iterations;
CREATE ROLE repmgr LOGIN SUPERUSER REPLICATION PASSWORD :'repmgr_pw';
-- repmgr's own metadata writes (promote, follow, monitoring) must never wait for a sync standby:
-- during a failover the new primary has no standby yet.
ALTER ROLE repmgr SET synchronous_commit = local;
CREATE DATABASE repmgr OWNER repmgr;
SELECT :'app_pw' <> '' AS have_app \gset
\if :have_app
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_pw';
CREATE DATABASE :"app_db" OWNER :"app_user";
\endif
SQL
    PGCONNECT_TIMEOUT=30 PGOPTIONS='-c synchronous_commit=local' psql -XAtq -v ON_ERROR_STOP=1 -d postgres -v app_user="$APP_USER" -v app_db="$APP_DB" \
      -v repmgr_iterations="$REPMGR_SCRAM_ITERATIONS"
  PGCONNECT_TIMEOUT=30 PGOPTIONS='-c synchronous_commit=local' repmgr -f "$CONF" primary register -F >&2
  # the migrator and monitor roles before any client can connect (the api migrates as forum_migrator)
  ensure_roles || log "WARNING: forum_migrator/forum_monitor/repmgr roles not done yet: the supervisor retries"
  rm -f "$BOOTSTRAP_MARKER"
}

# The roles beside the app's, made or given their current passwords by whichever member is primary, once per
# container start (also after a promotion); standbys get them by replication. One psql run for all. Returns 0 when
# done (or nothing to do), 1 to try again on a later tick.
# - forum_monitor: metrics-agent's login, a member of pg_monitor (every pg_stat_* view, nothing else).
# - forum_migrator: owns the app database and everything in it, and runs the migrations. The app role (`forum`)
#   keeps only row rights: SELECT/INSERT/UPDATE/DELETE on tables, USAGE/SELECT/UPDATE on sequences, also on every
#   table the migrator creates later (default privileges). So a query the app is tricked into running can read and
#   change rows but cannot drop, alter or create anything. On a cluster made before this role existed, the app's
#   objects are handed over here (REASSIGN OWNED), which takes a brief lock on each of them.
# - repmgr: its SCRAM verifier is re-made with REPMGR_SCRAM_ITERATIONS when it has another iteration count (a
#   cluster made before this setting), with the same password.
ensure_roles() {
  [[ -f "$PGDATA/standby.signal" ]] && return 1
  { psql_set monitor_pw "${MONITOR_PASSWORD:-}"; psql_set migrator_pw "${MIGRATOR_PASSWORD:-}"; psql_set repmgr_pw "$REPMGR_PASSWORD"; cat; } <<'SQL' |
SELECT pg_is_in_recovery() AS standby \gset
\if :standby
\quit
\endif
SELECT coalesce(NOT starts_with(rolpassword, 'SCRAM-SHA-256$' || :'repmgr_iterations' || ':'), true) AS reiterate FROM pg_authid WHERE rolname = 'repmgr' \gset
\if :reiterate
SET scram_iterations = :repmgr_iterations;
ALTER ROLE repmgr PASSWORD :'repmgr_pw';
RESET scram_iterations;
\endif
SELECT :'monitor_pw' <> '' AS want, NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'forum_monitor') AS missing \gset
\if :want
\if :missing
CREATE ROLE forum_monitor LOGIN IN ROLE pg_monitor;
\endif
ALTER ROLE forum_monitor PASSWORD :'monitor_pw';
\endif
SELECT :'migrator_pw' <> '' AS want, NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'forum_migrator') AS missing,
       EXISTS (SELECT FROM pg_database WHERE datname = :'app_db') AND EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') AS have_db \gset
\if :want
\if :missing
CREATE ROLE forum_migrator LOGIN;
\endif
ALTER ROLE forum_migrator PASSWORD :'migrator_pw';
\if :have_db
ALTER DATABASE :"app_db" OWNER TO forum_migrator;
\connect :"app_db"
REASSIGN OWNED BY :"app_user" TO forum_migrator;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_user";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_user";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE forum_migrator IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_user";
ALTER DEFAULT PRIVILEGES FOR ROLE forum_migrator IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"app_user";
\endif
\endif
SELECT 'done';
SQL
    PGCONNECT_TIMEOUT=5 PGOPTIONS='-c synchronous_commit=local' timeout 20 psql -XAtq -v ON_ERROR_STOP=1 -d postgres \
      -v app_user="$APP_USER" -v app_db="$APP_DB" -v repmgr_iterations="$REPMGR_SCRAM_ITERATIONS" 2>/dev/null | grep -qx done
}

# titled PATTERN: succeeds when a process of this container has a title (/proc/<pid>/cmdline) matching the glob.
# PostgreSQL writes a WAL sender's and a WAL receiver's state into their titles. Builtins only: no process, no login.
titled() {
  local f t
  for f in /proc/[0-9]*/cmdline; do
    t=""; { IFS= read -r -d '' t < "$f"; } 2>/dev/null
    # shellcheck disable=SC2053 # $1 is a glob on purpose
    [[ $t == $1 ]] && return 0
  done
  return 1
}

# primary_streams: succeeds when a WAL sender of this member streams to a standby, from its title:
# "postgres: walsender repmgr 10.0.4.16(41234) streaming 0/50F5FA8". The supervisor asks every 3 s on the primary,
# and the runtime fence's psql was a process plus a backend fork (~30 ms of CPU on this host) each time. A missing
# title only means the fence runs as before.
primary_streams() { titled 'postgres: walsender * streaming *'; }

# standby_streaming: succeeds when this standby's WAL receiver streams. Its title reads "walreceiver streaming <LSN>"
# from its first flush of received WAL until it exits or waits for a new timeline ("idle"), as pg_stat_wal_receiver
# says 'streaming'. A receiver that has flushed nothing since it connected (an idle primary writes no WAL) keeps its
# bare title, so only then is the view asked: the title alone once made a healthy standby on an idle cluster look
# stuck, and it restarted itself. The price: none in the steady state, where the view cost a login and a psql every
# 5 s per standby.
standby_streaming() {
  titled 'postgres: walreceiver streaming *' ||
    [[ $(psql -XAtq -h /var/run/postgresql -d postgres -c "select count(*) from pg_stat_wal_receiver where status = 'streaming'" 2>/dev/null) == 1 ]]
}

# A standby's primary_conninfo names every peer (`host=pg-0,pg-2 target_session_attrs=primary`), not only the primary
# repmgr wrote there (clone, follow, rejoin). After a failover the sibling's WAL receiver, which retries every second,
# then finds the promoted node by itself within ~2 s; repmgr's follow of that sibling took 5-9 s on a busy host, and
# quorum commit (ANY 1) holds every write on the new primary until one standby streams from it. It follows the new
# timeline itself (recovery_target_timeline latest); the election gave the promoted node the most WAL, so the sibling
# is never past the fork. The price: rewriting it restarts the WAL receiver once (a reload), after each clone, follow
# or rejoin; while the other standby streams, quorum commit does not notice. Set PG_STANDBY_ANY_PEER=0 to keep
# repmgr's single host.
widen_primary_conninfo() {
  [[ ${PG_STANDBY_ANY_PEER:-1} == 1 && -r $PGDATA/postgresql.auto.conf ]] || return 0
  local line cur="" hosts new
  # builtins only until a rewrite is due: this runs every 5 s on every streaming standby (no fork, like the tick)
  while IFS= read -r line; do
    [[ $line == "primary_conninfo = '"*"'" ]] && { cur=${line#"primary_conninfo = '"}; cur=${cur%"'"}; }
  done <"$PGDATA/postgresql.auto.conf"
  [[ -n $cur && $cur != *target_session_attrs* ]] || return 0
  cur=${cur//\'\'/\'}   # postgresql.auto.conf doubles quotes inside the value
  hosts=$(IFS=,; echo "${PEERS[*]}")
  new=$(sed -E "s/host=('[^']*'|[^ ]*)/host=${hosts}/" <<<"$cur")
  [[ $new == *"host=${hosts}"* ]] || return 0
  new="$new target_session_attrs=primary"
  log "standby: primary_conninfo names every peer (${hosts}) so its WAL receiver finds a promoted peer by itself"
  # on stdin: psql interpolates :'v' (quoted as a literal) there, not in -c
  printf '%s\n' "ALTER SYSTEM SET primary_conninfo = :'v';" "SELECT pg_reload_conf();" |
    psql -XAtq -h /var/run/postgresql -d postgres -v ON_ERROR_STOP=1 -v v="$new" >/dev/null 2>&1 || true
}

# WAL a standby holds (received, else replayed) in bytes; empty when it does not answer or is not a standby.
# `$1` empty = this node (socket).
standby_lsn() {
  local q="select pg_wal_lsn_diff(coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), '0/0')::bigint where pg_is_in_recovery()"
  if [[ -z "$1" ]]; then psql -XAtq -h /var/run/postgresql -d postgres -c "$q" 2>/dev/null
  else psql "host=$1 port=5432 user=repmgr dbname=repmgr connect_timeout=$PEER_CONNECT_TIMEOUT" -XAtqc "$q" 2>/dev/null; fi
}

# Promotion of last resort. repmgrd's election can end with no primary at all: when the primary shuts down
# slowly (a drain: its port refuses connections while its walsenders still stream), each standby reads the others'
# LSN at a different moment, each names another as candidate, none promotes, and all then wait in degraded
# monitoring. So when no peer has been primary (or promoting) for LAST_RESORT_SECONDS while a majority answers (this
# node and at least one peer), the standby with the most WAL promotes itself; ties go to the lowest node id, so
# every standby reaches the same answer. By then no WAL flows, so the answer does not move. Quorum commit means the
# standby with the most WAL holds every acknowledged commit; a minority side never has a majority to promote with.
LAST_RESORT_SECONDS=${LAST_RESORT_SECONDS:-20}
last_resort_winner() { # prints this node's name when it should promote
  local p st l id mine best best_id
  mine=$(standby_lsn "") || return 1
  [[ $mine =~ ^[0-9]+$ ]] || return 1
  best=$mine best_id=$NODE_ID
  for p in "${PEERS[@]}"; do
    st=$(peer_state "$p")
    [[ $st == primary || $st == promoting ]] && return 1
    [[ $st == standby ]] || continue
    l=$(standby_lsn "$p")
    [[ $l =~ ^[0-9]+$ ]] || continue
    id=$(node_id_of "$p")
    if (( l > best || (l == best && id < best_id) )); then best=$l best_id=$id; fi
  done
  (( best_id == NODE_ID )) && echo "$NODE_NAME"
}

# TERM (a drain, a scale to 0, a stack update). A primary hands over without failing a write in flight:
#   1. new transactions become read-only (default_transaction_read_only, reloaded; the running server keeps it, the
#      data dir does not: it is RESET in postgresql.auto.conf without a reload), for at least
#      PG_STOP_READONLY_MIN_SECONDS (3). A write refused so did nothing, and the api sends it again until the
#      promoted primary takes it (NOTHING_DONE_RETRY_MS in forum-api's db.ts);
#   2. the open write transactions finish (up to PG_STOP_DRAIN_SECONDS) instead of being cut by the fast shutdown,
#      which left their clients not knowing whether they committed (3 failed posts per drained primary);
#   3. a checkpoint while it still serves, so the shutdown checkpoint (refusing every connection) is short.
# Which standby takes over is settled by repmgrd on the standbys (standby_disconnect_on_failover in repmgr.conf).
# The price: up to ~PG_STOP_DRAIN_SECONDS + PG_STOP_CHECKPOINT_SECONDS more before the stop, inside the service's
# stop_grace_period (60 s), during which writes wait for the new primary.
stop_member() {
  log "stopping"
  [[ -n "$1" ]] && kill "$1" 2>/dev/null
  if pg_alive && [[ ! -f "$PGDATA/standby.signal" ]]; then
    local sql=(psql -XAtq -h /var/run/postgresql -d postgres) until=$((SECONDS + ${PG_STOP_DRAIN_SECONDS:-5})) open
    local min=$((SECONDS + ${PG_STOP_READONLY_MIN_SECONDS:-3}))
    log "primary: new transactions read-only; waiting for the open write transactions, then a checkpoint"
    timeout 5 "${sql[@]}" -c "ALTER SYSTEM SET default_transaction_read_only = on" -c "SELECT pg_reload_conf()" \
      -c "ALTER SYSTEM RESET default_transaction_read_only" >/dev/null 2>&1 || true
    while (( SECONDS < until )); do
      open=$(timeout 2 "${sql[@]}" -c "select count(*) from pg_stat_activity where backend_type = 'client backend' and backend_xid is not null and pid <> pg_backend_pid()" 2>/dev/null) || break
      # at least PG_STOP_READONLY_MIN_SECONDS read-only: a write refused so tells its api task that this primary is
      # stopping, and that task then sends again a write whose session the shutdown ends (STOPPING_PRIMARY_MS in
      # forum-api's db.ts). With no wait, the api tasks that had no write in the ~1 s before the shutdown answered
      # up to 5 writes 503 at once. The price: a planned stop keeps writes waiting ~2 s longer.
      [[ $open == 0 ]] && (( SECONDS >= min )) && break
      sleep 0.2
    done
    timeout "${PG_STOP_CHECKPOINT_SECONDS:-20}" "${sql[@]}" -c CHECKPOINT >/dev/null 2>&1 || true
  fi
  pg_stop
  exit 143
}

# repmgr stores each node's conninfo in repmgr.nodes when the node registers (clone, bootstrap), and repmgrd pings
# peers AND its own node with that stored string, not repmgr.conf's. On a primary, once a minute (one connection, an
# UPDATE that matches nothing once done; a standby returns without one, and may be promoted later): records whose
# connect_timeout differs from repmgr.conf's (a data dir registered by an older image) get repmgr.conf's, so a new
# timeout reaches a running cluster on its next roll instead of only on fresh volumes.
sync_node_conninfo() {
  [[ -f "$PGDATA/standby.signal" ]] && return 0
  # repmgr.conf is written once at start: its timeout is read once
  : "${CONF_CONNECT_TIMEOUT:=$(sed -n "s/^conninfo=.*connect_timeout=\([0-9]*\).*/\1/p" "$CONF")}"
  local t=$CONF_CONNECT_TIMEOUT
  [[ $t =~ ^[0-9]+$ ]] || return 0
  psql -XAtq -h /var/run/postgresql -d repmgr -c "SET synchronous_commit = local" \
    -c "UPDATE repmgr.nodes SET conninfo = regexp_replace(conninfo, 'connect_timeout=[0-9]+', 'connect_timeout=$t') WHERE conninfo !~ 'connect_timeout=$t( |$)'" \
    >/dev/null 2>&1 || true
}

supervise() {
  local repmgrd_pid="" down=0 tick=0 other stuck=0 orphan_since="" roles_done=0
  trap 'stop_member "$repmgrd_pid"' TERM INT
  # The 1 s tick is Debian's loadable `sleep` builtin (package bash-builtins): no process. A trapped TERM interrupts
  # its pselect() and bash runs the trap as the builtin returns. The tick has to keep every TERM: a lost one is a
  # primary that Swarm kills without its handover after the stop grace period. A builtin `read -t` on an idle pipe
  # lost some (4 of 210 runs of a reduced copy of this loop; once in the first 5 switchovers on the 3-node cluster).
  # The builtin sleep lost none of 400 TERMs sent at random points of a reduced copy (a /proc scan, a child exiting
  # each round, a trap that kills and waits for a background child; BENCHMARKS.md), nor did `sleep 1 & wait`.
  # Where the loadable is missing, `sleep 1 & wait`, at the price of a `sleep` process a second.
  local tick_builtin=0
  enable -f /usr/lib/bash/sleep sleep 2>/dev/null && tick_builtin=1
  while true; do
    if [[ -z "$repmgrd_pid" ]] || ! kill -0 "$repmgrd_pid" 2>/dev/null; then
      repmgrd -f "$CONF" --daemonize=false >&2 &
      repmgrd_pid=$!
    fi
    if pg_alive; then down=0; else down=$((down + 1)); fi
    # runtime fence: a primary that lost its standbys to another primary stops and rejoins (restart -> startup fence)
    tick=$((tick + 1))
    # (a primary with a streaming standby is never stale: no fence process, no psql, for the normal case)
    if (( down == 0 && tick % 3 == 0 )) && [[ ! -f "$PGDATA/standby.signal" ]] && ! primary_streams; then
      if other=$(primary-fence.sh); then :; else
        if [[ $? -eq 3 ]]; then
          log "FENCE: $other is primary with streaming standbys and this primary has none: stopping to rejoin as standby"
          kill "$repmgrd_pid" 2>/dev/null || true
          pg_ctl -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
          exit 1
        fi
      fi
    fi
    if (( down == 0 && roles_done == 0 && tick % 10 == 2 )) && ensure_roles; then roles_done=1; fi
    if (( down == 0 && tick % 60 == 7 )); then sync_node_conninfo; fi
    # Standby checks, every 5 s (one backend fork while streaming; the peers are asked only while not streaming).
    # - Not streaming for ~30 s while a peer is primary: it cannot follow that primary, typically because its WAL went
    #   past the point where the new primary's timeline forked. The container ends; the start-up path follows, else
    #   rewinds (rejoin), else re-clones. A standby stuck 30 s costs nothing acknowledged.
    # - No peer primary for LAST_RESORT_SECONDS while a majority answers: promotion of last resort (above).
    if (( down == 0 && tick % 5 == 0 )) && [[ -f "$PGDATA/standby.signal" ]]; then
      if standby_streaming; then
        stuck=0 orphan_since=""
        widen_primary_conninfo
      else
        stuck=$((stuck + 1))
        scan_peers
        if [[ -n "$PRIMARY" ]]; then
          orphan_since=""
          if (( stuck >= ${STANDBY_STUCK_CHECKS:-6} )); then
            log "standby not streaming for $((stuck * 5)) s while $PRIMARY is primary: restarting to follow or rewind"
            kill "$repmgrd_pid" 2>/dev/null || true
            pg_stop
            exit 1
          fi
        elif (( ANSWERING == 0 )); then
          # no majority now: no promotion, but a peer that did not answer one scan (its postmaster slow in the
          # reconnection storm after a primary's loss) does not restart the count either
          :
        else
          orphan_since=${orphan_since:-$SECONDS}
          if (( SECONDS - orphan_since >= LAST_RESORT_SECONDS )) && [[ -n $(last_resort_winner) ]]; then
            log "LAST RESORT: no primary for $((SECONDS - orphan_since)) s, ${ANSWERING} peer(s) answering, none with more WAL: promoting"
            if repmgr -f "$CONF" standby promote >&2; then
              kill "$repmgrd_pid" 2>/dev/null || true # restarted above: it monitors as a primary from then on
            fi
            orphan_since="" stuck=0
          fi
        fi
      fi
    fi
    # repmgr restarts PostgreSQL itself at times; a longer outage ends the container (Swarm restarts it)
    (( down < 20 )) || { log "PostgreSQL is down for 20 s: exiting"; kill "$repmgrd_pid" 2>/dev/null || true; exit 1; }
    if (( tick_builtin )); then sleep 1 2>/dev/null || true; else sleep 1 & wait $! || true; fi
  done
}

main() {
  write_configs
  echo starting > "$STATE_FILE"
  if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    [[ -z "$(ls -A "$PGDATA" 2>/dev/null)" ]] || wipe_data   # a half-finished clone
    local said=-100
    while true; do
      scan_peers
      if [[ -n "$PRIMARY" ]]; then witness_stop; clone_from "$PRIMARY"; break; fi
      if [[ "$NODE_NAME" == "$BOOTSTRAP_NODE" ]]; then
        WHY_NOT=""
        if (( ANSWERING == 0 )) && bootstrap_allowed; then bootstrap_primary; break; fi
        if (( SECONDS - said >= 10 )); then
          said=$SECONDS
          log "empty data dir, no primary among peers (${ANSWERING} answering): NOT initialising a new cluster (peers not all empty:${WHY_NOT:- some run PostgreSQL}); waiting for a primary to clone from. First start with a peer gone for good: set PG_BOOTSTRAP=force on this service"
        fi
      else
        witness_start
        if (( SECONDS - said >= 10 )); then said=$SECONDS; log "empty data dir, no primary among peers (${ANSWERING} answering): waiting"; fi
      fi
      sleep 2
    done
  elif [[ -f "$PGDATA/standby.signal" ]]; then
    ensure_include
    log "standby data: starting as standby"
    if pg_start; then
      scan_peers
      if [[ -n "$PRIMARY" ]]; then
        repmgr -f "$CONF" standby follow --upstream-node-id="$(node_id_of "$PRIMARY")" -W >&2 ||
          rejoin_to "$PRIMARY"
      fi
    else
      # A standby whose WAL went past the point where the promoted peer's timeline forked (it had received more than
      # the standby that was promoted, e.g. while it restarted during the failover) and that has already fetched the
      # new timeline's history refuses to start: "requested timeline N does not contain minimum recovery point".
      # Restarting alone loops forever (seen in CI: 10 min of restarts); the rejoin rewinds it to the fork point,
      # else re-clones. Without a primary to rejoin, the task ends and Swarm retries.
      scan_peers
      [[ -n "$PRIMARY" ]] || die "standby did not start and no peer is primary: retrying from a new task"
      log "standby did not start (its WAL may be past the promoted peer's timeline fork): rejoining $PRIMARY"
      rejoin_to "$PRIMARY"
    fi
  else
    ensure_include
    local start=$SECONDS evidence
    while true; do
      scan_peers
      if [[ -n "$PRIMARY" ]]; then rejoin_to "$PRIMARY"; break; fi
      if [[ -f "$BOOTSTRAP_MARKER" && "$NODE_NAME" == "$BOOTSTRAP_NODE" ]] && (( ANSWERING == 0 )) && bootstrap_allowed; then
        log "the bootstrap of this data dir never finished and every peer is still empty: starting the bootstrap again"
        wipe_data
        exit 1 # Swarm restarts the task on the empty dir: the bootstrap path
      fi
      if (( SECONDS - start >= FENCE_WAIT_SECONDS && ANSWERING >= 1 )); then
        if evidence=$(stale_primary_evidence); then
          log "fence: primary data, no primary reachable, but $evidence: this data is from before a failover; waiting for that primary (never a second one)"
        else
          log "fence: no peer is primary after ${FENCE_WAIT_SECONDS}s and ${ANSWERING} peer(s) agree: starting as primary"
          pg_start
          break
        fi
      else
        log "fence: primary data but not allowed to start as primary yet (${ANSWERING} peers answering, none primary)"
      fi
      sleep 1
    done
  fi
  echo running > "$STATE_FILE"
  supervise
}
main "$@"
