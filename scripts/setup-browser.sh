#!/usr/bin/env bash
# Sets up the browser the end-to-end browser tests drive (tests/tests/it/browser/): Debian's
# `chromium` and `chromium-driver` (chromedriver), installed with apt-get when missing.
#
# Idempotent: installs nothing when /usr/bin/chromium and /usr/bin/chromedriver exist. Uses
# sudo when not run as root. Fails (never skips) when they cannot be installed.
set -euo pipefail

say() { printf 'setup-browser: %s\n' "$*"; }

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    say "present: $(/usr/bin/chromium --version 2>/dev/null || echo chromium), $(/usr/bin/chromedriver --version 2>/dev/null | head -1)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "error: /usr/bin/chromium and /usr/bin/chromedriver are missing and apt-get is not available; install Chromium and its WebDriver (Debian: chromium, chromium-driver)" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
say "installing: apt-get install chromium chromium-driver"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver
say "installed: $(/usr/bin/chromedriver --version | head -1)"
