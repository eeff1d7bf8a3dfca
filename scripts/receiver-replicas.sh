#!/usr/bin/env bash
# Receivers with several replicas, graded by the harness (see README, "Several replicas"):
# the cross-replica scenarios (scenarios/receiver/cross-replica-*.toml) against three
# replicas of captchaai-receiver, twice.
#
# - On in-memory stores (each replica has its own) the run must FAIL, and every
#   cross-replica scenario with it, among its failed checks the one named in CAUGHT_BY
#   below (the replicas are --registered-only: an id registered on one replica is unknown
#   to the others, so ack-valid catches more than its own scenario).
# - On one shared Redis it must PASS, every check OK.
#
# Uses the binaries of `cargo build --workspace --bins` (in $CARGO_TARGET_DIR or target/,
# debug unless PROFILE=release) and the Redis at $CAPTCHAAI_TEST_REDIS_URL (scripts/test.sh
# starts one), or starts a redis-server of its own on a free loopback port. Every process
# it starts is stopped by its id at the end; everything talks to 127.0.0.1. About ten seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/${PROFILE:-debug}"
for b in captchaai-receiver captchaai-conformance; do
    if [[ ! -x "$BIN/$b" ]]; then
        echo "receiver-replicas: $BIN/$b is missing: run cargo build --workspace --bins first" >&2
        exit 1
    fi
done

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

REDIS_URL="${CAPTCHAAI_TEST_REDIS_URL:-}"
if [[ -z "$REDIS_URL" ]]; then
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "receiver-replicas: redis-server is missing: apt-get install redis-server (scripts/test.sh does)" >&2
        exit 1
    fi
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
        --logfile "$WORK/redis.log" --daemonize no &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && break
        sleep 0.1
    done
    REDIS_URL="redis://127.0.0.1:$PORT/"
fi

SECRET="replicas-$$"
SCENARIOS=(scenarios/receiver/cross-replica-*.toml)

# The check that must catch each cross-replica scenario on in-memory replicas.
declare -A CAUGHT_BY=(
    [cross-replica-burst]=receiver-kept          # read on another replica: nothing there
    [cross-replica-conflict]=ack-valid           # the genuine callback's replica never saw the id registered
    [cross-replica-duplicates]=receiver-kept     # the duplicate's replica stored it, the read replica has nothing
    [cross-replica-registered]=ack-valid         # registered on one replica, refused (404) by another
    [cross-replica-stale]=ack-valid
    [cross-replica-waited]=wait-woken            # the long poll on one replica is never woken
)

# start_replicas STORE PREFIX [COUNT]: COUNT replicas (3 by default) with REPLICA_FLAGS;
# their base URLs in BASES.
REPLICA_FLAGS=(--registered-only)
start_replicas() {
    BASES=()
    for i in $(seq 1 "${3:-3}"); do
        local out="$WORK/$2$i.out"
        "$BIN/captchaai-receiver" --bind 127.0.0.1:0 --store "$1" --key-prefix "$2:" \
            --secret "$SECRET" "${REPLICA_FLAGS[@]}" --allow 127.0.0.1/32 --workers 1 --log-format json \
            >"$out" 2>"$WORK/$2$i.log" &
        PIDS+=($!)
        local base=""
        for _ in $(seq 1 100); do
            # The replica may not have opened its output yet.
            base="$(sed -n 's/^captchaai-receiver listening on //p' "$out" 2>/dev/null || true)"
            [[ -n "$base" ]] && break
            sleep 0.05
        done
        if [[ -z "$base" ]]; then
            echo "receiver-replicas: replica $i ($1) did not start:" >&2
            cat "$WORK/$2$i.log" >&2
            exit 1
        fi
        BASES+=("$base")
    done
}

# grade NAME [FILE...]: runs the cross-replica scenarios (or FILEs) against BASES; the exit
# code in CODE, the JSON report in $WORK/NAME.json.
grade() {
    local name=$1
    shift
    local files=("$@")
    [[ ${#files[@]} -gt 0 ]] || files=("${SCENARIOS[@]}")
    local args=(run "${files[@]}" --json "$WORK/$name.json")
    for b in "${BASES[@]}"; do
        args+=(--receiver "$b/pingback?token=$SECRET")
        args+=(--results-url "$b/results/{id}?token=$SECRET")
        args+=(--register-url "$b/register/{id}?token=$SECRET")
        args+=(--wait-url "$b/results/{id}?wait=30s&token=$SECRET")
    done
    set +e
    "$BIN/captchaai-conformance" "${args[@]}" >"$WORK/$name.out" 2>&1
    CODE=$?
    set -e
}

# verdicts NAME: one line per scenario: name, verdict, the checks that failed.
verdicts() {
    python3 - "$WORK/$1.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
for s in report["scenarios"]:
    failed = sorted(c["id"] for c in s["checks"] if c["verdict"] == "FAILED")
    print(s["name"], s["verdict"], ",".join(failed) or "-")
EOF
}

fail() {
    echo "receiver-replicas: $*" >&2
    echo "--- harness output ---" >&2
    cat "$WORK/$NAME.out" >&2
    exit 1
}

NAME=memory
start_replicas memory memory
grade memory
echo "three replicas, each on its own in-memory store: exit $CODE"
verdicts memory | sed 's/^/  /'
[[ $CODE == 1 ]] || fail "three in-memory replicas: expected exit 1 (failed checks), got $CODE"
while read -r scenario verdict failed; do
    expected="${CAUGHT_BY[$scenario]:-}"
    [[ -n $expected ]] ||
        fail "$scenario: no expected check in CAUGHT_BY (scripts/receiver-replicas.sh): add the one that must catch it"
    [[ $verdict == FAILED && ",$failed," == *",$expected,"* ]] ||
        fail "three in-memory replicas: $scenario is $verdict (failed: $failed), expected FAILED with $expected among the failed checks"
done < <(verdicts memory)

# Two in-memory replicas that take any id: the long poll opens on the replica the duplicate
# goes to, so each waiter is woken by a result its own replica stored, a second after the
# genuine callback was acknowledged on the other. wait-woken must not call that OK: it
# proves nothing about shared state.
NAME=memory-two
REPLICA_FLAGS=()
start_replicas memory memory-two 2
grade memory-two scenarios/receiver/cross-replica-waited.toml
woken="$(python3 - "$WORK/memory-two.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
print(next(c["verdict"] for s in report["scenarios"] for c in s["checks"] if c["id"] == "wait-woken"))
EOF
)"
echo "two in-memory replicas, cross-replica-waited: wait-woken $woken"
[[ $woken == NOT-GRADED || $woken == FAILED ]] ||
    fail "two in-memory replicas: wait-woken is $woken, but each waiter could have been woken by its own replica"
REPLICA_FLAGS=(--registered-only)

NAME=redis
start_replicas "$REDIS_URL" "replicas-$$"
grade redis
echo "three replicas on one Redis: exit $CODE"
verdicts redis | sed 's/^/  /'
[[ $CODE == 0 ]] || fail "three replicas on one Redis: expected exit 0, got $CODE"
while read -r scenario verdict failed; do
    [[ $verdict == OK ]] || fail "three replicas on one Redis: $scenario is $verdict, expected OK"
done < <(verdicts redis)
echo "receiver-replicas: in-memory replicas fail the cross-replica scenarios, replicas on one Redis pass"
