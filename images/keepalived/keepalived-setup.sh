#!/bin/bash
# Renders keepalived.conf from the environment (bitnami-style setup step): validates every variable, reports ALL
# problems at once and exits 1, or writes the config and checks it with `keepalived --config-test`.
#
#   KEEPALIVED_VIRTUAL_IPS      required  comma list of VIPs with prefix, e.g. 192.0.2.50/24
#   KEEPALIVED_AUTH_PASS_FILE   required  Docker secret: VRRP PASS authentication, 1-8 characters
#   KEEPALIVED_INTERFACE        default   the interface of the default route
#   KEEPALIVED_ROUTER_ID        default   51 (virtual_router_id, 1-255, the same on every edge node)
#   KEEPALIVED_PRIORITY         this node's priority (1-254); or
#   KEEPALIVED_PRIORITIES       "node=prio,node=prio" picked by KEEPALIVED_NODE (Swarm: {{.Node.Hostname}})
#   KEEPALIVED_NODE             default   hostname
#   KEEPALIVED_ADVERT_INT       default   1 (seconds between VRRP adverts)
#   KEEPALIVED_CHECK_URL        default   http://127.0.0.1/edge-health (the local NGINX and an api task behind it)
#   KEEPALIVED_CHECK_INTERVAL   default   1;  _FALL default 2, _RISE default 2, _TIMEOUT default 2 (seconds; above
#                               check-nginx.sh's own 1 s, which decides what a slow answer means). Fall 2: one slow
#                               answer on a starved host does not move the VIP (and reset its connections); an NGINX
#                               that dies outright loses the VIP ~2 s later instead of ~1 s. A planned stop drains for
#                               NGINX_DRAIN_SECONDS (6 behind keepalived) first, so it is not affected
#   KEEPALIVED_PREEMPT          default   false: nopreempt, the VIP stays where it is until its holder fails (a node
#                               that comes back does not take it back, which would reset every connection once more);
#                               the NGINX check then has weight 0 (an unhealthy NGINX puts the node in FAULT).
#                               true: the highest healthy priority always holds the VIP (preemption)
#   KEEPALIVED_CHECK_WEIGHT     with PREEMPT=true: default -10 (priority change while the local NGINX is unhealthy);
#                               more than the spread of KEEPALIVED_PRIORITIES, or a tie hands the VIP to a node
#                               without NGINX. With PREEMPT=false only 0 (a lowered master would keep the VIP)
#   KEEPALIVED_PREEMPT_DELAY    with PREEMPT=true: default 0 (the original master takes the VIP back once healthy)
#   KEEPALIVED_DOWN_TIMER_ADVERTS default 3, VRRP's own (missed adverts before a backup takes over: ~3.6 s after a
#                               holder dies; 1 gives ~1.6 s, but then keepalived starved for 1.5 s on a loaded host
#                               lets a backup take a live holder's VIP and resets every connection to it)
#   KEEPALIVED_QUORUM_FALL      default 3 (failed quorum checks in a row before FAULT: ~3-4 s for a cut-off node)
#   KEEPALIVED_UNICAST_PEERS    optional: unicast VRRP (networks without multicast), comma list of the edge nodes'
#                               addresses; this node's own addresses on the interface are left out, so every node
#                               can be given the same list (a Swarm global service cannot vary it per node)
#   KEEPALIVED_UNICAST_SRC_IP   default   with PEERS: the interface's first IPv4 address
#   KEEPALIVED_QUORUM_PEERS     optional: comma list of EVERY node's address (own left out, as above). A node that
#                               reaches fewer than a majority of the group (itself counted) on KEEPALIVED_QUORUM_PORT
#                               goes to FAULT and drops the VIP, so a partitioned node does not keep the clients
#   KEEPALIVED_QUORUM_PORT      default   7946 (Swarm's gossip port, open between every pair of swarm nodes)
#   KEEPALIVED_QUORUM_SCRIPT    default   /usr/local/bin/check-quorum.sh
#   KEEPALIVED_CONF             default   /etc/keepalived/keepalived.conf
#   KEEPALIVED_CHECK_SCRIPT     default   /usr/local/bin/check-nginx.sh
#   KEEPALIVED_SCRIPT_USER      default   keepalived_script (an unprivileged user that runs the check)
set -Eeuo pipefail
LOG_TAG=keepalived-setup
# lib.sh: log, die, file_env (images/base/lib.sh; from the repository when run from it, as the edge tests do)
lib=$(dirname "$(readlink -f "$0")")/../base/lib.sh
[[ -r $lib ]] || lib=/usr/local/lib/forum/lib.sh
source "$lib"

errors=()
err() { errors+=("$1"); }

is_int() { [[ "$1" =~ ^-?[0-9]+$ ]] && (( $2 <= $1 && $1 <= $3 )); }
is_ipv4() {
  local IFS=. o; local -a p
  [[ "$1" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  read -ra p <<<"$1"
  for o in "${p[@]}"; do (( o <= 255 )) || return 1; done
}
is_ip() { is_ipv4 "$1" || [[ "$1" =~ ^[0-9a-fA-F:]+$ && "$1" == *:* ]]; }

# both KEEPALIVED_AUTH_PASS and _FILE set, or an unreadable file: fatal at once, before the other checks
file_env KEEPALIVED_AUTH_PASS
export -n KEEPALIVED_AUTH_PASS   # not in keepalived's environment (it reads the rendered config)
NODE=${KEEPALIVED_NODE:-$(hostname)}
CONF=${KEEPALIVED_CONF:-/etc/keepalived/keepalived.conf}
RUN_DIR=${KEEPALIVED_RUN_DIR:-/run/keepalived}
CHECK_SCRIPT=${KEEPALIVED_CHECK_SCRIPT:-/usr/local/bin/check-nginx.sh}
SCRIPT_USER=${KEEPALIVED_SCRIPT_USER:-keepalived_script}
ROUTER_ID=${KEEPALIVED_ROUTER_ID:-51}
ADVERT_INT=${KEEPALIVED_ADVERT_INT:-1}
CHECK_URL=${KEEPALIVED_CHECK_URL:-http://127.0.0.1/edge-health}
CHECK_INTERVAL=${KEEPALIVED_CHECK_INTERVAL:-1}
CHECK_FALL=${KEEPALIVED_CHECK_FALL:-2}
CHECK_RISE=${KEEPALIVED_CHECK_RISE:-2}
CHECK_TIMEOUT=${KEEPALIVED_CHECK_TIMEOUT:-2}
PREEMPT=${KEEPALIVED_PREEMPT:-false}
if [[ $PREEMPT == true ]]; then CHECK_WEIGHT=${KEEPALIVED_CHECK_WEIGHT:--10}; else CHECK_WEIGHT=${KEEPALIVED_CHECK_WEIGHT:-0}; fi
PREEMPT_DELAY=${KEEPALIVED_PREEMPT_DELAY:-0}
DOWN_TIMER_ADVERTS=${KEEPALIVED_DOWN_TIMER_ADVERTS:-3}
QUORUM_FALL=${KEEPALIVED_QUORUM_FALL:-3}
INTERFACE=${KEEPALIVED_INTERFACE:-$(ip -o route show default 2>/dev/null | awk '{for (i=1;i<NF;i++) if ($i=="dev") {print $(i+1); exit}}')}

PRIORITY=${KEEPALIVED_PRIORITY:-}
# PRIO_LO..PRIO_HI: the spread of the group's priorities (checked against the check weight with preemption)
PRIO_LO=255 PRIO_HI=0
if [[ -z "$PRIORITY" && -n "${KEEPALIVED_PRIORITIES:-}" ]]; then
  IFS=, read -ra pairs <<<"$KEEPALIVED_PRIORITIES"
  for pair in "${pairs[@]}"; do
    [[ "${pair%%=*}" == "$NODE" ]] && PRIORITY=${pair#*=}
    v=${pair#*=}
    if is_int "$v" 1 254; then (( v < PRIO_LO )) && PRIO_LO=$v; (( v > PRIO_HI )) && PRIO_HI=$v; fi
  done
  [[ -n "$PRIORITY" ]] || err "KEEPALIVED_PRIORITIES has no entry for node \"$NODE\" (KEEPALIVED_NODE)"
fi
[[ -n "$PRIORITY" ]] || [[ -n "${KEEPALIVED_PRIORITIES:-}" ]] || err "KEEPALIVED_PRIORITY (or KEEPALIVED_PRIORITIES) is required"
[[ -z "$PRIORITY" ]] || is_int "$PRIORITY" 1 254 || err "KEEPALIVED_PRIORITY=$PRIORITY must be 1-254"

[[ -n "${KEEPALIVED_VIRTUAL_IPS:-}" ]] || err "KEEPALIVED_VIRTUAL_IPS is required (e.g. 192.0.2.50/24)"
IFS=, read -ra VIPS <<<"${KEEPALIVED_VIRTUAL_IPS:-}"
for vip in "${VIPS[@]}"; do
  addr=${vip%/*}; prefix=${vip#*/}
  { [[ "$vip" == */* ]] && is_ip "$addr" && is_int "$prefix" 1 128; } || err "KEEPALIVED_VIRTUAL_IPS entry \"$vip\" must be address/prefix"
done

if [[ -z "${KEEPALIVED_AUTH_PASS:-}" ]]; then err "KEEPALIVED_AUTH_PASS_FILE is required (VRRP authentication)"
elif (( ${#KEEPALIVED_AUTH_PASS} > 8 )); then err "KEEPALIVED_AUTH_PASS must be at most 8 characters (VRRPv2 PASS auth); keepalived would truncate it"
elif [[ ! "$KEEPALIVED_AUTH_PASS" =~ ^[[:graph:]]+$ ]]; then err "KEEPALIVED_AUTH_PASS must be printable without spaces"
fi

[[ -n "$INTERFACE" ]] || err "KEEPALIVED_INTERFACE is required (no default route to take it from)"
[[ -z "$INTERFACE" || -e "/sys/class/net/$INTERFACE" ]] || err "KEEPALIVED_INTERFACE=$INTERFACE does not exist here"
is_int "$ROUTER_ID" 1 255 || err "KEEPALIVED_ROUTER_ID=$ROUTER_ID must be 1-255"
is_int "$ADVERT_INT" 1 255 || err "KEEPALIVED_ADVERT_INT=$ADVERT_INT must be 1-255 seconds"
is_int "$CHECK_INTERVAL" 1 60 || err "KEEPALIVED_CHECK_INTERVAL=$CHECK_INTERVAL must be 1-60"
is_int "$CHECK_FALL" 1 10 || err "KEEPALIVED_CHECK_FALL=$CHECK_FALL must be 1-10"
is_int "$CHECK_RISE" 1 10 || err "KEEPALIVED_CHECK_RISE=$CHECK_RISE must be 1-10"
is_int "$CHECK_TIMEOUT" 1 10 || err "KEEPALIVED_CHECK_TIMEOUT=$CHECK_TIMEOUT must be 1-10"
is_int "$CHECK_WEIGHT" -253 253 || err "KEEPALIVED_CHECK_WEIGHT=$CHECK_WEIGHT must be -253..253"
is_int "$DOWN_TIMER_ADVERTS" 1 100 || err "KEEPALIVED_DOWN_TIMER_ADVERTS=$DOWN_TIMER_ADVERTS must be 1-100"
is_int "$QUORUM_FALL" 1 10 || err "KEEPALIVED_QUORUM_FALL=$QUORUM_FALL must be 1-10"
is_int "$PREEMPT_DELAY" 0 1000 || err "KEEPALIVED_PREEMPT_DELAY=$PREEMPT_DELAY must be 0-1000"
case $PREEMPT in
  false)
    [[ $CHECK_WEIGHT == 0 ]] || err "KEEPALIVED_CHECK_WEIGHT=$CHECK_WEIGHT must be 0 with KEEPALIVED_PREEMPT=false: without preemption a master whose NGINX fails would only lower its priority and keep the VIP"
    ;;
  true)
    # a node whose NGINX fails must fall below every healthy node, or the tie goes to the higher IP address
    if (( PRIO_LO <= PRIO_HI )) && is_int "$CHECK_WEIGHT" -253 253 && (( -CHECK_WEIGHT <= PRIO_HI - PRIO_LO )); then
      err "KEEPALIVED_CHECK_WEIGHT=$CHECK_WEIGHT must lower a node by more than the spread of KEEPALIVED_PRIORITIES ($PRIO_LO..$PRIO_HI), e.g. -$(( PRIO_HI - PRIO_LO + 10 )): an equal priority goes to the higher IP address, with or without NGINX"
    fi
    ;;
  *) err "KEEPALIVED_PREEMPT=$PREEMPT must be true or false" ;;
esac
[[ "$CHECK_URL" =~ ^https?://[^[:space:]\"]+$ ]] || err "KEEPALIVED_CHECK_URL=$CHECK_URL must be an http(s) URL"
[[ "$NODE" =~ ^[A-Za-z0-9._-]+$ ]] || err "KEEPALIVED_NODE=$NODE may only hold letters, digits, . _ -"
[[ -x "$CHECK_SCRIPT" ]] || err "KEEPALIVED_CHECK_SCRIPT=$CHECK_SCRIPT is not an executable file"

PEERS=()
if [[ -n "${KEEPALIVED_UNICAST_PEERS:-}" ]]; then
  local_addrs=" $( [[ -n "$INTERFACE" ]] && ip -o addr show dev "$INTERFACE" 2>/dev/null | awk '{sub(/\/.*/, "", $4); printf "%s ", $4}' || true) "
  IFS=, read -ra all_peers <<<"$KEEPALIVED_UNICAST_PEERS"
  for p in "${all_peers[@]}"; do
    is_ip "$p" || { err "KEEPALIVED_UNICAST_PEERS entry \"$p\" is not an IP address"; continue; }
    [[ "$local_addrs" == *" $p "* ]] || PEERS+=("$p")
  done
  if [[ -z "${KEEPALIVED_UNICAST_SRC_IP:-}" ]]; then
    KEEPALIVED_UNICAST_SRC_IP=$( [[ -n "$INTERFACE" ]] && ip -4 -o addr show dev "$INTERFACE" scope global 2>/dev/null | awk '{sub(/\/.*/, "", $4); print $4; exit}' || true)
    [[ -n "$KEEPALIVED_UNICAST_SRC_IP" ]] || err "KEEPALIVED_UNICAST_SRC_IP is required with KEEPALIVED_UNICAST_PEERS ($INTERFACE has no IPv4 address to take)"
  fi
  (( ${#PEERS[@]} )) || err "KEEPALIVED_UNICAST_PEERS names no address other than this node's own"
fi
QUORUM_PEERS=()
QUORUM_PORT=${KEEPALIVED_QUORUM_PORT:-7946}
QUORUM_SCRIPT=${KEEPALIVED_QUORUM_SCRIPT:-/usr/local/bin/check-quorum.sh}
if [[ -n "${KEEPALIVED_QUORUM_PEERS:-}" ]]; then
  own=" $( [[ -n "$INTERFACE" ]] && ip -o addr show 2>/dev/null | awk '{sub(/\/.*/, "", $4); printf "%s ", $4}' || true) "
  IFS=, read -ra all_q <<<"$KEEPALIVED_QUORUM_PEERS"
  for p in "${all_q[@]}"; do
    is_ip "$p" || { err "KEEPALIVED_QUORUM_PEERS entry \"$p\" is not an IP address"; continue; }
    [[ "$own" == *" $p "* ]] || QUORUM_PEERS+=("$p")
  done
  (( ${#QUORUM_PEERS[@]} )) || err "KEEPALIVED_QUORUM_PEERS names no address other than this node's own"
  is_int "$QUORUM_PORT" 1 65535 || err "KEEPALIVED_QUORUM_PORT=$QUORUM_PORT must be 1-65535"
  [[ -x "$QUORUM_SCRIPT" ]] || err "KEEPALIVED_QUORUM_SCRIPT=$QUORUM_SCRIPT is not an executable file"
fi
[[ -z "${KEEPALIVED_UNICAST_SRC_IP:-}" ]] || is_ip "$KEEPALIVED_UNICAST_SRC_IP" || err "KEEPALIVED_UNICAST_SRC_IP is not an IP address"

if (( ${#errors[@]} )); then
  for e in "${errors[@]}"; do error "invalid configuration: $e"; done
  die "invalid configuration: ${#errors[@]} problem(s), see above"
fi

unicast=''
if (( ${#PEERS[@]} )); then
  unicast="    unicast_src_ip ${KEEPALIVED_UNICAST_SRC_IP}
    unicast_peer {
$(printf '        %s\n' "${PEERS[@]}")
    }"
fi

quorum_script='' quorum_track=''
if (( ${#QUORUM_PEERS[@]} )); then
  quorum_script="
# this node reaches a majority of the ${#QUORUM_PEERS[@]}+1 nodes on port ${QUORUM_PORT}; weight 0: failing puts the instance
# in FAULT (VIP dropped, no adverts), whatever its priority
vrrp_script chk_quorum {
    script \"${QUORUM_SCRIPT} ${QUORUM_PORT} ${QUORUM_PEERS[*]}\"
    interval 1
    timeout 2
    fall ${QUORUM_FALL}
    rise 2
    weight 0
}"
  quorum_track="        chk_quorum"
fi

if [[ $PREEMPT == true ]]; then
  check_what="unhealthy lowers this node's priority by ${CHECK_WEIGHT#-}, so a healthy peer takes the VIP"
  preempt_what="Preemption: a
    # node that is healthy again takes the VIP back (each move resets the connections to the old holder)"
  preempt_line="    preempt_delay ${PREEMPT_DELAY}"
else
  check_what="unhealthy puts this node in FAULT (VIP dropped, no adverts), so a healthy peer takes the VIP"
  preempt_what="nopreempt: the
    # VIP then stays on its holder until that fails; a node that returns does not move it (and reset its connections)"
  preempt_line="    nopreempt"
fi

mkdir -p "$(dirname "$CONF")"
umask 077
cat >"$CONF" <<CONF
# Generated by images/keepalived/keepalived-setup.sh for node ${NODE}; do not edit (set KEEPALIVED_* instead).
global_defs {
    router_id ${NODE}
    enable_script_security
    script_user ${SCRIPT_USER}
    # a new master announces itself at once and again after 1 s, so switches and clients follow quickly
    vrrp_garp_master_delay 1
    vrrp_garp_master_repeat 3
    vrrp_garp_master_refresh 60
}

# the local NGINX: ${check_what}.
# init_fail: a keepalived that starts (a node back from a crash or a reboot) counts its NGINX as down until the check
# has passed ${CHECK_RISE} times, so it never claims the VIP while its NGINX is not listening yet.
vrrp_script chk_nginx {
    script "${CHECK_SCRIPT} ${CHECK_URL} /tmp/check-nginx-${NODE}.slow"
    interval ${CHECK_INTERVAL}
    timeout ${CHECK_TIMEOUT}
    fall ${CHECK_FALL}
    rise ${CHECK_RISE}
    weight ${CHECK_WEIGHT}
    init_fail
}
${quorum_script}

# a planned stop (entrypoint.sh): a non-zero value puts the instance in FAULT (weight 0); read on change (inotify)
vrrp_track_file stopping {
    file "${RUN_DIR}/stopping"
    weight 0
}

vrrp_instance VI_EDGE {
    # every node starts as BACKUP; the highest effective priority wins the first election. ${preempt_what}
    state BACKUP
    interface ${INTERFACE}
    virtual_router_id ${ROUTER_ID}
    priority ${PRIORITY}
    advert_int ${ADVERT_INT}
    # A master whose NGINX fails only LOWERS its priority and keeps advertising; a backup ignores those lower adverts
    # and takes over when its master-down timer expires: down_timer_adverts x advert_int + skew: ~3.6 s after the
    # last good advert with VRRP's 3. Fewer would move the VIP of a live holder whose adverts are late.
    down_timer_adverts ${DOWN_TIMER_ADVERTS}
${preempt_line}
    authentication {
        auth_type PASS
        auth_pass ${KEEPALIVED_AUTH_PASS}
    }
${unicast}
    virtual_ipaddress {
$(for vip in "${VIPS[@]}"; do printf '        %s dev %s\n' "$vip" "$INTERFACE"; done)
    }
    track_script {
        chk_nginx
${quorum_track}
    }
    # entrypoint.sh writes 1 here on a stop: FAULT, the VIP dropped with a priority-0 advert, before keepalived exits
    track_file {
        stopping
    }
}
CONF

# --config-test prints each problem; some builds (2.2.x) end it with SIGTERM (143) even for a good file
rc=0; out=$(keepalived --config-test -f "$CONF" 2>&1) || rc=$?
if [[ -n "$out" ]] || (( rc != 0 && rc != 143 )); then
  die "the rendered $CONF does not pass keepalived --config-test: $out"
fi
log "keepalived.conf rendered (node $NODE, priority $PRIORITY, interface $INTERFACE, vips ${KEEPALIVED_VIRTUAL_IPS})"
