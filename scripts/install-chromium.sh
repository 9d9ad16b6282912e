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

# shellcheck source=scripts/apt-install.sh
source "$(dirname "$0")/apt-install.sh"
apt_check_can_install install-chromium "Debian's chromium and fonts-noto-cjk are needed by tests/browser and \
cannot be installed here; install them, or set FEISHU_TEST_CHROMIUM to a Chromium binary"
apt_install install-chromium chromium fonts-noto-cjk fontconfig

if [[ -z $(chromium_path) ]]; then
    apt_fail install-chromium "installed 'chromium' but found no chromium on PATH"
fi
echo "install-chromium: installed Debian's chromium ($(version)) and fonts-noto-cjk"
