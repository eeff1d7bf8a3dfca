#!/usr/bin/env bash
# No flakes: the receiver suite (scenarios/receiver), RUNS times in a row (default 10), with
# the harness's default flags (one scenario at a time, a 1 s latency budget), against the
# correct example endpoint (examples/receivers/correct_receiver.py, graded with every flag:
# secret, results, registration, trusted source) and against the reference receiver
# (in-process). Fails on the first run in which any scenario is not OK: a FAILED, NON-STRICT
# or NOT-GRADED verdict, or an exit code other than 0. Prints each run's wall time.
#
# Usage: scripts/receiver-no-flake.sh [RUNS]   (builds the release harness first)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUNS="${1:-10}"

cargo build --release -q -p captchaai-conformance
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/captchaai-conformance"

WORK="$(mktemp -d)"
RX_PID=""
cleanup() {
    if [ -n "$RX_PID" ]; then kill "$RX_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

python3 examples/receivers/correct_receiver.py --secret s3cret --allow 127.0.0.1 \
    >"$WORK/receiver.out" 2>"$WORK/receiver.err" &
RX_PID=$!
for _ in $(seq 100); do
    grep -q '^listening on ' "$WORK/receiver.out" 2>/dev/null && break
    sleep 0.1
done
BASE="$(sed -n 's/^listening on //p' "$WORK/receiver.out")"
if [ -z "$BASE" ]; then
    echo "receiver-no-flake: correct_receiver.py did not start:" >&2
    cat "$WORK/receiver.err" >&2
    exit 1
fi

# Exits non-zero, naming them, unless every scenario that ran and every check is OK.
all_ok() {
    python3 - "$1" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
bad = [
    f"{s['id']} {c['id']}: {c['verdict']} {c['summary']}"
    for s in report["scenarios"] if s["verdict"] != "SKIPPED"
    for c in s["checks"] if c["verdict"] not in ("OK", "INFORMATIONAL")
]
bad += [f"{s['id']}: {s['verdict']}; replay: {s.get('replay', '')}"
        for s in report["scenarios"] if s["verdict"] not in ("OK", "SKIPPED")]
ran = sum(1 for s in report["scenarios"] if s["verdict"] != "SKIPPED")
if bad or ran == 0:
    print("\n".join(bad) or "no scenario ran", file=sys.stderr)
    sys.exit(1)
print(f"{ran} scenario(s) OK")
PY
}

# One subject, RUNS times: NAME, then the harness's subject flags.
runs() {
    local name="$1"
    shift
    for i in $(seq "$RUNS"); do
        local start end status=0
        start=$EPOCHREALTIME
        "$BIN" run scenarios/receiver --format json "$@" >"$WORK/run.json" || status=$?
        end=$EPOCHREALTIME
        printf 'receiver-no-flake: %s run %d/%d: exit %d, %.1f s, ' \
            "$name" "$i" "$RUNS" "$status" "$(awk "BEGIN { print $end - $start }")"
        if [ "$status" -ne 0 ] || ! all_ok "$WORK/run.json"; then
            echo "receiver-no-flake: $name failed run $i of $RUNS" >&2
            exit 1
        fi
    done
}

SECONDS=0
runs "correct_receiver.py" \
    --receiver "$BASE/pingback?token=s3cret" \
    --results-url "$BASE/results/{id}" \
    --register-url "$BASE/register/{id}" \
    --trusted-source 127.0.0.1
runs "reference receiver"
echo "receiver-no-flake: $RUNS runs of each, no flake, in ${SECONDS} s"
