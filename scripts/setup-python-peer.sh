#!/usr/bin/env bash
# Sets up the real peer for the end-to-end tests: the official CaptchaAI Python
# SDK (`captchaai`, pinned), unmodified, in a virtualenv at <repo>/.venv.
#
# Idempotent: creates the venv only if it is missing and installs the SDK only
# if the pinned version is not already importable. Prints every step it takes.
#
# Environment:
#   PYTHON   interpreter used to create the venv (default: python3)
#   VENV     venv location (default: <repo>/.venv)
set -euo pipefail

SDK_VERSION="1.0.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$ROOT/.venv}"
VPY="$VENV/bin/python"

say() { printf 'setup-python-peer: %s\n' "$*"; }

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    say "error: $PYTHON not found; install Python 3.9+ (with the venv module)" >&2
    exit 1
fi

if [ -x "$VPY" ]; then
    say "virtualenv present: $VENV"
else
    say "creating virtualenv: $PYTHON -m venv $VENV"
    "$PYTHON" -m venv "$VENV"
fi

installed="$("$VPY" - <<'PY' 2>/dev/null || true
from importlib import metadata
try:
    import captchaai  # noqa: F401  (must import, not just be listed)
    print(metadata.version("captchaai"))
except Exception:
    pass
PY
)"

if [ "$installed" = "$SDK_VERSION" ]; then
    say "captchaai==$SDK_VERSION already installed; nothing to do"
else
    if [ -n "$installed" ]; then
        say "captchaai $installed installed, want $SDK_VERSION"
    fi
    say "installing captchaai==$SDK_VERSION into $VENV"
    "$VPY" -m pip install --disable-pip-version-check --quiet "captchaai==$SDK_VERSION"
fi

"$VPY" -c 'import captchaai, sys; from importlib import metadata; print("setup-python-peer: ok: captchaai", metadata.version("captchaai"), "on Python", sys.version.split()[0])'
