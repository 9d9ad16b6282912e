#!/usr/bin/env bash
# Make sure Debian's redis-server binary is installed, so scripts/stack/stack.py (make stack, make e2e) can
# run a private Redis on 127.0.0.1 (the Celery broker and the shared rate limiter), and
# tests/reliability/test_shared_rate_limit.py one of its own.
#
# Idempotent and quiet: prints one line saying what it did. Installs Debian's `redis-server` package when
# run as root with apt-get; never leaves the distro's own service running (the stack starts its own).
set -euo pipefail

if command -v redis-server >/dev/null; then
    echo "install-redis: redis-server already installed ($(redis-server --version | awk '{print $3}'))"
    exit 0
fi

# shellcheck source=scripts/apt-install.sh
source "$(dirname "$0")/../apt-install.sh"
apt_check_can_install install-redis "redis-server not found on PATH and cannot install it here; install \
Debian's 'redis-server' package"
# The package must not boot its own server on port 6379.
apt_deny_service_starts
apt_install install-redis redis-server

# Where services do start despite the policy (under systemd), stop the distro's server: it must not hold
# port 6379.
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl disable --now redis-server >>"$APT_LOG" 2>&1 || true
fi

if ! command -v redis-server >/dev/null; then
    apt_fail install-redis "installed 'redis-server' but found no redis-server on PATH"
fi
echo "install-redis: installed Debian's redis-server package ($(redis-server --version | awk '{print $3}'))"
