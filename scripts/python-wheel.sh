#!/usr/bin/env bash
# The Python wheel, as a Python user gets it: builds it with maturin (release, both binaries,
# the pytest plugin), installs it into a fresh virtualenv with no Rust on the PATH, runs the
# wheel's pytest suite there (the fixture with the official CaptchaAI SDK and 2captcha-python
# over TLS, the built-in receiver suite), then the CI recipe of docs/ci.md, word for word.
#
# maturin comes from PyPI into the repository's virtualenv (scripts/setup-python-peer.sh made
# it). The build shares CARGO_TARGET_DIR (default: target/) with the workspace's release build,
# so the dependencies compile once for both (python/Cargo.toml says why it is a workspace of
# its own; its Cargo.lock is the root one, copied here).
#
# Environment: VENV (the repository's virtualenv, default <repo>/.venv), WORK (a folder for
# the wheel, the fresh virtualenv and the reports; default: a temporary one, removed).
set -euo pipefail

MATURIN_VERSION="1.16.0"
TWOCAPTCHA_VERSION="2.1.2"
SDK_VERSION="1.0.1"
PYTEST_VERSION="9.2.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
say() { printf 'python-wheel: %s\n' "$*"; }

# $PATH without every folder holding a cargo or rustc.
no_rust_path() {
    local out="" dir
    local IFS=:
    for dir in $PATH; do
        if [ -n "$dir" ] && [ ! -x "$dir/cargo" ] && [ ! -x "$dir/rustc" ]; then
            out="${out:+$out:}$dir"
        fi
    done
    printf '%s' "$out"
}

if [ -z "${WORK:-}" ]; then
    WORK="$(mktemp -d -t captchaai-wheel.XXXXXX)"
    trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"

if [ "$("$VENV/bin/python" -c 'from importlib import metadata; print(metadata.version("maturin"))' 2>/dev/null || true)" != "$MATURIN_VERSION" ]; then
    say "installing maturin==$MATURIN_VERSION into $VENV"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "maturin==$MATURIN_VERSION"
fi

# The workspace's target folder: its release dependencies are reused.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cp "$ROOT/Cargo.lock" "$ROOT/python/Cargo.lock"
say "building the wheel: maturin build --release -m python/Cargo.toml"
SECONDS=0
"$VENV/bin/maturin" build --release --quiet -m "$ROOT/python/Cargo.toml" -o "$WORK/dist"
WHEEL="$(ls "$WORK"/dist/captchaai_mock-*.whl)"
say "built $(basename "$WHEEL") ($(du -h "$WHEEL" | cut -f1)) in ${SECONDS} s"

# A fresh virtualenv, and a PATH without cargo or rustc: the wheel must need neither.
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --disable-pip-version-check --quiet "$WHEEL" \
    "pytest==$PYTEST_VERSION" "captchaai==$SDK_VERSION" "2captcha-python==$TWOCAPTCHA_VERSION"
# The PATH without the folders that hold cargo or rustc.
NO_RUST_PATH="$(no_rust_path)"
CLEAN_PATH="$WORK/venv/bin:$NO_RUST_PATH"
if PATH="$CLEAN_PATH" command -v cargo >/dev/null || PATH="$CLEAN_PATH" command -v rustc >/dev/null; then
    say "error: cargo or rustc still on the clean PATH ($CLEAN_PATH)" >&2
    exit 1
fi

say "captchaai-conformance run (the built-in suite, from a folder outside the checkout)"
(cd "$WORK" && PATH="$CLEAN_PATH" CI=true captchaai-conformance run --format json >"$WORK/suite.json")
python3 - "$WORK/suite.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
scenarios = report["scenarios"]
if len(scenarios) < 40 or report["totals"]["failed"] != 0:
    sys.exit(f"the built-in suite: {len(scenarios)} scenario(s), totals {report['totals']}")
print(f"python-wheel: the built-in suite: {len(scenarios)} scenario(s), none failed")
PY

say "pytest python/tests (the fixture, from the installed wheel)"
(cd "$WORK" && PATH="$CLEAN_PATH" "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider \
    "$ROOT/python/tests")

say "the CI recipe of docs/ci.md"
PATH="$NO_RUST_PATH" "$ROOT/scripts/ci-recipe.sh" "$ROOT/docs/ci.md" "$WORK" "$WHEEL"
say "ok"
