#!/usr/bin/env bash
# Make sure Debian's redis-server binary is installed, so scripts/stack/start.sh can run a private Redis
# on 127.0.0.1 (the Celery broker and the shared rate limiter).
#
# Idempotent and quiet: prints one line saying what it did. Installs Debian's `redis-server` package when
# run as root with apt-get; never leaves the distro's own service running (the stack starts its own).
set -euo pipefail

if command -v redis-server >/dev/null; then
    echo "install-redis: redis-server already installed ($(redis-server --version | awk '{print $3}'))"
    exit 0
fi

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "install-redis: redis-server not found on PATH and cannot install it (needs root and apt-get);" \
        "install Debian's 'redis-server' package" >&2
    exit 1
fi

log=$(mktemp)
policy=/usr/sbin/policy-rc.d
own_policy=
cleanup() {
    rm -f "$log"
    if [[ -n $own_policy ]]; then rm -f "$policy"; fi
}
trap cleanup EXIT

# Deny service starts while installing, so the package does not boot its own server on port 6379.
# Leave an existing policy (e.g. Docker's) alone.
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    # Wait for another apt/dpkg run (a parallel install) instead of failing on its lock.
    apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=600 redis-server \
        >>"$log" 2>&1
}
# Refresh the package lists only when the install cannot be done from the ones we have.
if ! apt_install; then
    if ! { apt-get update -qq -o DPkg::Lock::Timeout=600 >>"$log" 2>&1 && apt_install; }; then
        tail -n 30 "$log" >&2
        echo "install-redis: 'apt-get install redis-server' failed (output above)" >&2
        exit 1
    fi
fi

# Where services do start despite the policy (under systemd), stop the distro's server: it must not hold
# port 6379.
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl disable --now redis-server >>"$log" 2>&1 || true
fi

if ! command -v redis-server >/dev/null; then
    tail -n 30 "$log" >&2
    echo "install-redis: installed 'redis-server' but found no redis-server on PATH" >&2
    exit 1
fi
echo "install-redis: installed Debian's redis-server package ($(redis-server --version | awk '{print $3}'))"
