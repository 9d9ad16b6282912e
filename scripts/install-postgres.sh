#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries (initdb, pg_ctl, postgres) are installed,
# so tests/postgres_server.py can run a throwaway server on 127.0.0.1.
#
# Idempotent and quiet: prints one line saying what it did. Installs Debian's
# `postgresql` package when run as root with apt-get; never leaves the distro's
# own cluster running (the tests start their own, on loopback only).
set -euo pipefail

versions() { ls /usr/lib/postgresql | tr '\n' ' ' | sed 's/ $//'; }

have_server() {
    local bin
    for bin in /usr/lib/postgresql/*/bin; do
        if [[ -x $bin/initdb && -x $bin/pg_ctl && -x $bin/postgres ]]; then
            return 0
        fi
    done
    return 1
}

if have_server; then
    echo "install-postgres: PostgreSQL server already installed (version $(versions))"
    exit 0
fi

# shellcheck source=scripts/apt-install.sh
source "$(dirname "$0")/apt-install.sh"
apt_check_can_install install-postgres "PostgreSQL server not found under /usr/lib/postgresql/*/bin and cannot \
install it here; install Debian's 'postgresql' package or set FEISHU_TEST_POSTGRES_URI"
# The package's postinst must not boot its cluster on port 5432.
apt_deny_service_starts
apt_install install-postgres postgresql

# Where services do start despite the policy (e.g. under systemd), stop the
# distro's cluster: it must not hold port 5432 or listen beyond loopback.
if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
        if [[ $status == online* ]]; then
            pg_ctlcluster "$ver" "$name" stop >>"$APT_LOG" 2>&1 || true
        fi
    done
fi
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl disable --now postgresql >>"$APT_LOG" 2>&1 || true
fi

if ! have_server; then
    apt_fail install-postgres "installed 'postgresql' but found no initdb/pg_ctl/postgres under /usr/lib/postgresql/*/bin"
fi
echo "install-postgres: installed Debian's postgresql package (version $(versions))"
