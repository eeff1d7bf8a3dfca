#!/usr/bin/env bash
# The project's test command (see README): sets up the real peer (the official
# CaptchaAI Python SDK in .venv) and the browser (Chromium and chromedriver), then runs
# every test of the workspace, including doc tests. Exits non-zero on the first failure.
#
# Extra arguments go to both cargo invocations, e.g. `scripts/test.sh --release`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

step "scripts/setup-python-peer.sh"
scripts/setup-python-peer.sh

# The browser tests drive Debian's headless Chromium over WebDriver.
step "scripts/setup-browser.sh"
scripts/setup-browser.sh

# `cargo test` builds examples but does not place them at target/<profile>/examples/<name>,
# where the end-to-end tests (tests/tests/binaries.rs) run them from: build them first.
step "cargo build --workspace --bins --examples $*"
cargo build --workspace --bins --examples "$@"

step "cargo test --workspace --all-targets $*"
cargo test --workspace --all-targets "$@"

step "cargo test --workspace --doc $*"
cargo test --workspace --doc "$@"

# The Python wheel (a release build of both binaries, shared with CI's release build through
# the target folder), installed into a fresh virtualenv: its pytest plugin with the official
# SDKs, and the CI recipe of docs/ci.md.
step "scripts/python-wheel.sh"
scripts/python-wheel.sh

step "all tests passed"
