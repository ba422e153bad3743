#!/usr/bin/env bash
# Validates the Prometheus config and rules and runs the promtool rule unit tests.
#
# promtool comes from PATH, else from Debian's `prometheus` package (2.42), installed
# with apt-get under a policy-rc.d that forbids starting services, so the install never
# leaves a Prometheus server running (Debian's postinst would start one on 0.0.0.0:9090).
# None of the promtool commands below needs a running server or the network.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

log() { printf 'check.sh: %s\n' "$*" >&2; }

POLICY=/usr/sbin/policy-rc.d
POLICY_OURS=0
POLICY_BACKUP=""
restore_policy() {
    if [ "$POLICY_OURS" -eq 1 ]; then
        if [ -n "$POLICY_BACKUP" ]; then mv -f "$POLICY_BACKUP" "$POLICY"; else rm -f "$POLICY"; fi
        POLICY_OURS=0
    fi
}
trap restore_policy EXIT

install_promtool() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "promtool is not on PATH and apt-get is not available."
        log "Install promtool (Prometheus 2.42+) and put it on PATH, then run again."
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        log "promtool is not on PATH; installing it needs root: sudo apt-get install prometheus"
        return 1
    fi

    # An existing policy that already denies starts (exit 101, as in Docker images) is
    # kept; otherwise ours replaces it for the duration of the install.
    if [ -x "$POLICY" ] && { "$POLICY" prometheus start >/dev/null 2>&1; [ $? -eq 101 ]; }; then
        :
    else
        if [ -e "$POLICY" ]; then
            POLICY_BACKUP="$(mktemp)"
            cp -p "$POLICY" "$POLICY_BACKUP"
        fi
        printf '#!/bin/sh\n# written by ops/prometheus/check.sh during apt-get install\nexit 101\n' \
            >"$POLICY"
        chmod 0755 "$POLICY"
        POLICY_OURS=1
    fi

    local before
    before="$(pgrep -x prometheus || true)"

    export DEBIAN_FRONTEND=noninteractive
    local apt_opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef
        -o Dpkg::Options::=--force-confold)
    if ! apt-cache show prometheus >/dev/null 2>&1; then
        log "package 'prometheus' unknown to apt; running apt-get update"
        apt-get update -q || { log "apt-get update failed"; return 1; }
    fi
    log "installing promtool: apt-get install --no-install-recommends prometheus"
    if ! apt-get install "${apt_opts[@]}" prometheus >&2; then
        log "apt-get install failed; refreshing the package lists and trying once more"
        if ! { apt-get update -q && apt-get install "${apt_opts[@]}" prometheus >&2; }; then
            log "apt-get install prometheus failed; install promtool by hand and run again"
            return 1
        fi
    fi
    restore_policy

    # Belt and braces: stop and disable any server the install started after all.
    local pid
    for pid in $(pgrep -x prometheus || true); do
        if ! grep -qx "$pid" <<<"$before"; then
            log "stopping the prometheus server the package started (pid $pid)"
            kill "$pid" || true
        fi
    done
    # ...and keep it from starting at the next boot (systemctl disable works offline).
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    elif command -v systemctl >/dev/null 2>&1; then
        systemctl disable prometheus >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
        update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
}

if ! command -v promtool >/dev/null 2>&1; then
    install_promtool || exit 1
    command -v promtool >/dev/null 2>&1 || { log "promtool still not on PATH"; exit 1; }
fi
log "using $(command -v promtool): $(promtool --version 2>&1 | head -n1)"

shopt -s nullglob
rules=(rules/*.yml)
tests=(tests/*.yml)
[ "${#rules[@]}" -gt 0 ] || { log "no rule files in $here/rules"; exit 1; }
[ "${#tests[@]}" -gt 0 ] || { log "no rule tests in $here/tests"; exit 1; }

promtool check rules "${rules[@]}"
promtool check config prometheus.yml
promtool test rules "${tests[@]}"
log "OK"
