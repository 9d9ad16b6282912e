# Sourced (not run) by scripts/install-postgres.sh, scripts/install-chromium.sh and
# scripts/stack/install-redis.sh, once they know they must install something: what installing Debian
# packages quietly takes, in one place.
#
#   apt_check_can_install WHO WHAT   # exits 1 saying WHAT is needed unless root with apt-get
#   apt_deny_service_starts          # the packages' postinst must not start their services meanwhile
#   apt_install WHO PACKAGE...       # exits 1 with the end of apt's output when the install fails
#   apt_fail WHO MESSAGE             # exits 1 with the end of apt's output and MESSAGE
# apt's output goes to $APT_LOG, removed on exit (with a service policy this script wrote).

APT_LOG=$(mktemp)
_apt_policy=/usr/sbin/policy-rc.d
_apt_own_policy=
_apt_cleanup() {
    rm -f "$APT_LOG"
    if [[ -n $_apt_own_policy ]]; then rm -f "$_apt_policy"; fi
}
trap _apt_cleanup EXIT
export DEBIAN_FRONTEND=noninteractive

apt_check_can_install() {
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "$1: $2 (needs root and apt-get)" >&2
        exit 1
    fi
}

# Deny service starts while installing, so a package's postinst does not boot its own server on its
# well-known port. Leave an existing policy (e.g. Docker's) alone.
apt_deny_service_starts() {
    if [[ ! -e $_apt_policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$_apt_policy"
        chmod 755 "$_apt_policy"
        _apt_own_policy=1
    fi
}

apt_fail() {
    tail -n 30 "$APT_LOG" >&2
    echo "$1: $2" >&2
    exit 1
}

apt_install() {
    local who=$1
    shift
    # Wait for another apt/dpkg run (a parallel install) instead of failing on its lock.
    local options=(-y -qq --no-install-recommends -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=600)
    # Refresh the package lists only when the install cannot be done from the ones we have.
    if apt-get install "${options[@]}" "$@" >>"$APT_LOG" 2>&1; then return 0; fi
    if apt-get update -qq -o DPkg::Lock::Timeout=600 >>"$APT_LOG" 2>&1 \
        && apt-get install "${options[@]}" "$@" >>"$APT_LOG" 2>&1; then
        return 0
    fi
    apt_fail "$who" "'apt-get install $*' failed (output above)"
}
