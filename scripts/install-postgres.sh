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

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "install-postgres: PostgreSQL server not found under /usr/lib/postgresql/*/bin and cannot install it" \
        "(needs root and apt-get); install Debian's 'postgresql' package or set FEISHU_TEST_POSTGRES_URI" >&2
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

# Deny service starts while installing, so the package's postinst does not boot
# its cluster on port 5432. Leave an existing policy (e.g. Docker's) alone.
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 postgresql >>"$log" 2>&1
}
# Refresh the package lists only when the install cannot be done from the ones we have.
if ! apt_install; then
    if ! { apt-get update -qq >>"$log" 2>&1 && apt_install; }; then
        tail -n 30 "$log" >&2
        echo "install-postgres: 'apt-get install postgresql' failed (output above)" >&2
        exit 1
    fi
fi

# Where services do start despite the policy (e.g. under systemd), stop the
# distro's cluster: it must not hold port 5432 or listen beyond loopback.
if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
        if [[ $status == online* ]]; then
            pg_ctlcluster "$ver" "$name" stop >>"$log" 2>&1 || true
        fi
    done
fi
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl disable --now postgresql >>"$log" 2>&1 || true
fi

if ! have_server; then
    tail -n 30 "$log" >&2
    echo "install-postgres: installed 'postgresql' but found no initdb/pg_ctl/postgres" \
        "under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
echo "install-postgres: installed Debian's postgresql package (version $(versions))"
