#!/usr/bin/env bash
# Provides the base image every Dockerfile builds FROM (ARG BASE_IMAGE, default debian:trixie-slim).
# When no registry can serve it (these machines reach only Debian's mirror), a minbase trixie rootfs is
# made with debootstrap and imported under the same name, so Dockerfiles stay unchanged.
set -euo pipefail
BASE_IMAGE=${BASE_IMAGE:-debian:trixie-slim}
SUITE=${BASE_SUITE:-trixie}
log() { printf '[base-image] %s\n' "$*" >&2; }

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then exit 0; fi
if timeout 20 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then log "pulled $BASE_IMAGE"; exit 0; fi

log "no registry serves $BASE_IMAGE: building it with debootstrap ($SUITE)"
command -v debootstrap >/dev/null || { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null; }
# the mirror apt already uses (deb822 `URIs:` or one-line `deb` entries; comments ignored)
mirror=$(grep -rhE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -oE 'https?://[^ ]+/debian/?( |$)' | tr -d ' ' | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
rootfs=$(mktemp -d /tmp/rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >/tmp/debootstrap.log 2>&1 || { tail -20 /tmp/debootstrap.log >&2; exit 1; }
# apt inside images: no recommends, no docs, security updates too
cat >"$rootfs/etc/apt/sources.list" <<SRC
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb ${mirror%/debian*}/debian-security $SUITE-security main
SRC
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
log "imported $BASE_IMAGE"
