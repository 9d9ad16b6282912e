#!/usr/bin/env bash
# Make sure Debian's Chromium and a CJK font are installed, so tests/browser/ can drive the Airflow UI
# headless with Playwright (launched with the system browser's path: nothing downloads a browser).
#
# Idempotent and quiet: prints one line saying what it did. Installs Debian's `chromium` and
# `fonts-noto-cjk` packages when run as root with apt-get (the font makes the Chinese product names in the
# form's help text render as characters, not boxes, in the screenshot).
set -euo pipefail

chromium_path() { command -v chromium 2>/dev/null || true; }
have_font() { [[ -n $(fc-list :lang=zh 2>/dev/null | head -n 1) ]]; }
version() { "$(chromium_path)" --version 2>/dev/null | head -n 1 || echo "unknown version"; }

if [[ -n $(chromium_path) ]] && have_font; then
    echo "install-chromium: $(version) and a CJK font already installed"
    exit 0
fi

if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "install-chromium: Debian's chromium and fonts-noto-cjk are needed by tests/browser and cannot be" \
        "installed here (needs root and apt-get); install them, or set FEISHU_TEST_CHROMIUM to a Chromium binary" >&2
    exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt_install() {
    apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 chromium fonts-noto-cjk fontconfig >>"$log" 2>&1
}
# Refresh the package lists only when the install cannot be done from the ones we have.
if ! apt_install; then
    if ! { apt-get update -qq >>"$log" 2>&1 && apt_install; }; then
        tail -n 30 "$log" >&2
        echo "install-chromium: 'apt-get install chromium fonts-noto-cjk' failed (output above)" >&2
        exit 1
    fi
fi

if [[ -z $(chromium_path) ]]; then
    tail -n 30 "$log" >&2
    echo "install-chromium: installed 'chromium' but found no chromium on PATH" >&2
    exit 1
fi
echo "install-chromium: installed Debian's chromium ($(version)) and fonts-noto-cjk"
