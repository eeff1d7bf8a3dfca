#!/usr/bin/env bash
# bench/run.sh: the project and the tools users would pick instead, measured
# side by side in one run on this machine, then a table with ratios.
#
#   bench/run.sh            full run (about 17 minutes plus the builds)
#   bench/run.sh --quick    short durations, for smoke testing (about 3 minutes)
#   bench/run.sh --skip wiremock,pingback,conformance,load   (or load-redis: only its Redis runs)
#   bench/run.sh --no-nice  do not raise the benchmark's CPU priority
#
# Sections: poll (res.php polling: bare axum ceiling, mock, WireMock tuned and
# with defaults, in interleaved rounds, then RSS under a minute of sustained
# load each), submit (in.php), memory (a million pending tasks), journal (the
# worst-case inbound journal: rejected requests with 30 MB bodies, peak RSS),
# dashboard (polling and 100 000 submits with the dashboard open, and without,
# in alternation), startup, pingback (mock-server/benches/pingback_delivery.rs), conformance,
# load (the conformance flow on scenarios/load/thousand-faulted.toml scaled to
# 10 000, 100 000 and 1 000 000 tasks: wall time and peak RSS of each run, with the
# reference receiver's store in memory and then on a fresh redis-server).
# `--skip wiremock` leaves WireMock out of every section.
#
# It installs what it needs and says so: `wrk`, GNU `time` and `redis-server` (Debian packages,
# apt-get) and WireMock standalone (the npm package `wiremock`, into
# bench/.tools). Every
# server is started and stopped by its own process id, every run is bounded by
# a timeout, and all traffic stays on 127.0.0.1. Servers and load generators
# run at nice -20 when run as root. Raw results go to
# bench/results/<UTC time>/ (and bench/results/latest); the table is printed
# at the end and kept as table.md there.
#
# Environment: BENCH_QUIET_WAIT (seconds to wait, before each section, for the
# machine to go quiet: other CPU use under 25%; default 60, 0 in quick mode);
# BENCH_LOAD_SIZES (the load section's task counts, multiples of 1000; default
# "10000 100000 1000000", "10000 100000" in quick mode); BENCH_LOAD_REDIS_SIZES (those
# that run again with the reference store on Redis; default: the load sizes up to 100000);
# BENCH_DASHBOARD_CLIENTS (dashboards open in the dashboard section; default 1);
# CARGO_TARGET_DIR (where cargo builds; default target/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=0
NO_NICE=0
SKIP=","
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --no-nice) NO_NICE=1 ;;
        --skip) SKIP=",$2,"; shift ;;
        --skip=*) SKIP=",${1#--skip=},"; ;;
        -h|--help) sed -n '2,/^set -euo pipefail/{/^set -euo/!p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
skipped() { [[ "$SKIP" == *",$1,"* ]]; }

if [[ $QUICK == 1 ]]; then
    ROUNDS=1; DUR=3; WARM=1; WARM_WM=5; SUSTAIN=10; TASKS=100000; FLOOD=20
    STARTUP_RUNS=3; STARTUP_RUNS_WM=2; PB_N=20000; PB_ROUNDS=1
    QUIET_WAIT=${BENCH_QUIET_WAIT:-0}
    LOAD_SIZES=${BENCH_LOAD_SIZES:-10000 100000}
    DASH_ROUNDS=1; DASH_HOLD=8
else
    ROUNDS=3; DUR=10; WARM=2; WARM_WM=30; SUSTAIN=60; TASKS=1000000; FLOOD=200
    STARTUP_RUNS=15; STARTUP_RUNS_WM=5; PB_N=100000; PB_ROUNDS=2
    QUIET_WAIT=${BENCH_QUIET_WAIT:-60}
    LOAD_SIZES=${BENCH_LOAD_SIZES:-10000 100000 1000000}
    DASH_ROUNDS=3; DASH_HOLD=15
fi
# The sizes that run again with the store on Redis: about ten times the in-memory wall, so
# by default those up to 100 000 (1 000 000 would take over half an hour).
LOAD_REDIS_SIZES=${BENCH_LOAD_REDIS_SIZES:-$(for n in $LOAD_SIZES; do if (( n <= 100000 )); then echo "$n"; fi; done | xargs)}
DASH_CLIENTS=${BENCH_DASHBOARD_CLIENTS:-1}
DASH_TASKS=100000

# Servers and load generators run at nice -20 when we are root, so that
# compilers and tests started by others on this machine (nice 0) disturb the
# figures less. `--no-nice` turns it off.
NICE=""
if [[ $NO_NICE == 0 && $(id -u) == 0 ]]; then
    NICE="nice -n -20"
fi

KEY="captchaai-mock-test-key-00000001"
SUBMIT_QUERY="key=$KEY&method=userrecaptcha&googlekey=6Le-wvkSAAAAAPBMRTvw0Q4Muexq9bi0DJwx_mJ-&pageurl=https%3A%2F%2Fexample.com%2Flogin&json=1"
# Where cargo builds: CARGO_TARGET_DIR if set (as cargo itself decides).
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
MOCK="$TARGET/release/captchaai-mock"
CEILING="$TARGET/release/bench-ceiling"
# The mock's default worker threads: half the CPUs, at least one (server.workers).
MOCK_WORKERS=$(( $(nproc) / 2 )); (( MOCK_WORKERS >= 1 )) || MOCK_WORKERS=1
DRIVER="$TARGET/release/bench-driver"
CONFORMANCE="$TARGET/release/captchaai-conformance"
WM_ROOT="$ROOT/bench/wiremock"
LUA="$ROOT/bench/wrk/report.lua"

OUT="$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
ln -sfn "$(basename "$OUT")" "$ROOT/bench/results/latest"

log() { printf '\n==> %s\n' "$*" >&2; }

# Every server this script starts, by process id; stopped on any exit.
PIDS=()
SERVER_PID=""
cleanup() {
    local p
    for p in "${PIDS[@]}" $(jobs -p); do
        kill -KILL "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME CMD...: starts a server in the background, SERVER_PID = its pid.
start_server() {
    local name=$1; shift
    "$@" >"$OUT/server-$name.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

# stop_server PID: SIGTERM, up to 10 s to exit, then SIGKILL.
stop_server() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Forget it, so that the exit trap never signals a reused process id.
    local kept=() p
    for p in "${PIDS[@]}"; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    PIDS=("${kept[@]}")
}

# CPU use of the whole machine over one second, in percent.
cpu_busy() {
    local a b
    a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
    local total=0 idle i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

# quiet LABEL: waits (at most QUIET_WAIT s) for the machine to be quiet, then
# records how busy it was before the section (our own servers are idle then).
quiet() {
    local label=$1 busy waited=0
    busy=$(cpu_busy)
    while (( busy >= 25 && waited < QUIET_WAIT )); do
        sleep 4; waited=$((waited + 5)); busy=$(cpu_busy)
    done
    printf '%s\t%s\t%s\t%s\n' "$label" "$busy" "$waited" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/quiet.tsv"
    if (( busy >= 25 )); then
        log "warning: the machine is busy ($busy% CPU before '$label'): figures will be noisy"
    fi
}

# run_wrk NAME CONNECTIONS SECONDS URL: one wrk run, JSON figures in wrk-NAME.json.
run_wrk() {
    local name=$1 conns=$2 secs=$3 url=$4
    timeout $((secs + 60)) $NICE wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$LUA" "$url" \
        >"$OUT/wrk-$name.txt" 2>&1 || true
    grep '^BENCHJSON ' "$OUT/wrk-$name.txt" | sed 's/^BENCHJSON //' >"$OUT/wrk-$name.json" || true
}

# free port on 127.0.0.1
port() { "$DRIVER" free-port; }

# ---------------------------------------------------------------- tools
log "tools"
if ! command -v wrk >/dev/null; then
    log "installing wrk: apt-get install -y wrk"
    apt-get update -qq && apt-get install -y -qq wrk
fi
WM_JAR=""
if ! skipped wiremock; then
    WM_JAR=$(ls "$ROOT"/bench/.tools/node_modules/wiremock/build/wiremock-standalone-*.jar 2>/dev/null | head -1 || true)
    if [[ -z "$WM_JAR" ]]; then
        log "installing WireMock standalone: npm install wiremock@3 into bench/.tools"
        mkdir -p "$ROOT/bench/.tools"
        timeout 300 npm install --prefix "$ROOT/bench/.tools" --no-audit --no-fund --silent wiremock@3
        WM_JAR=$(ls "$ROOT"/bench/.tools/node_modules/wiremock/build/wiremock-standalone-*.jar | head -1)
    fi
    command -v java >/dev/null || { echo "run.sh: java not found (WireMock needs it); use --skip wiremock" >&2; exit 1; }
fi
if ! skipped load && [[ ! -x /usr/bin/time ]]; then
    log "installing GNU time (the load section's peak RSS): apt-get install -y time"
    apt-get update -qq && apt-get install -y -qq time
fi

# ---------------------------------------------------------------- build
log "building (release): captchaai-mock, captchaai-bench, captchaai-conformance, the pingback_delivery bench"
timeout 1800 cargo build --release -p captchaai-mock -p captchaai-bench
if ! skipped conformance || ! skipped load; then
    timeout 1800 cargo build --release -p captchaai-conformance \
        || { log "warning: captchaai-conformance does not build; skipping its sections"; SKIP="$SKIP,conformance,load,"; }
fi
if ! skipped pingback; then
    timeout 1800 cargo bench -p captchaai-mock --bench pingback_delivery --no-run \
        || { log "warning: the pingback_delivery bench does not build; skipping that section"; SKIP="$SKIP,pingback,"; }
fi

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "mode: $([[ $QUICK == 1 ]] && echo quick || echo full)"
    echo "durations: wrk ${DUR}s, warm-up ${WARM}s (WireMock ${WARM_WM}s), sustained ${SUSTAIN}s, tasks $TASKS"
    echo "cpus: $(nproc) (captchaai-mock: $MOCK_WORKERS worker thread(s), its default; bare axum: one per core$( (( MOCK_WORKERS != $(nproc) )) && echo ", and $MOCK_WORKERS as a second row"))"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "memory: $(grep MemTotal /proc/meminfo | awk '{print $2}') KiB"
    echo "kernel: $(uname -r)"
    echo "rustc: $(rustc --version)"
    echo "wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
    if [[ -n "$WM_JAR" ]]; then
        echo "wiremock: $(basename "$WM_JAR" .jar | sed 's/wiremock-standalone-//')"
        echo "java: $(java -version 2>&1 | head -1)"
    fi
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- mock-server 2>/dev/null || echo ' (mock-server modified)')"
} >"$OUT/env.txt"
printf 'section\tcpu_busy_pct\twaited_s\tloadavg\n' >"$OUT/quiet.tsv"

# ---------------------------------------------------------------- polling
# All polled servers run at once (idle ones cost nothing) and are measured in
# interleaved rounds: ceiling, mock, WireMock tuned, WireMock defaults, again
# and again. On a shared 2-core box the speed drifts from minute to minute;
# interleaving puts every server through the same drift, and the report takes
# the median round. Then each gets a minute of sustained load on its own,
# with its RSS sampled every 5 s.
declare -A POLL_URL POLL_PID
POLLED=()

# poll_start NAME PID URL: records a started server (idle RSS after 1 s).
poll_start() {
    local name=$1 pid=$2 url=$3
    POLLED+=("$name"); POLL_PID[$name]=$pid; POLL_URL[$name]=$url
    "$DRIVER" get --url "$url" >"$OUT/answer-$name.txt"
    sleep 1
    "$DRIVER" rss --pid "$pid" >"$OUT/rss-$name-idle.txt"
}

# sustained NAME: a minute of c64 polling, RSS every 5 s.
sustained() {
    local name=$1 pid=${POLL_PID[$1]} t
    log "$name: ${SUSTAIN}s of sustained polling (c64), RSS every 5 s"
    run_wrk "$name-sustained" 64 "$SUSTAIN" "${POLL_URL[$name]}" &
    local wrk_job=$!
    : >"$OUT/rss-$name-sustained.tsv"
    for ((t = 0; t <= SUSTAIN; t += 5)); do
        printf '%s\t%s\n' "$t" "$("$DRIVER" rss --pid "$pid")" >>"$OUT/rss-$name-sustained.tsv"
        if (( t + 5 <= SUSTAIN )); then sleep 5; fi
    done
    wait "$wrk_job"
    printf 'end\t%s\n' "$("$DRIVER" rss --pid "$pid")" >>"$OUT/rss-$name-sustained.tsv"
}

if ! skipped poll; then
    quiet "poll"
    P=$(port)
    start_server ceiling $NICE "$CEILING" --bind "127.0.0.1:$P"
    "$DRIVER" wait-ready --url "http://127.0.0.1:$P/res.php"
    poll_start ceiling "$SERVER_PID" "http://127.0.0.1:$P/res.php?key=$KEY&action=get&id=74000000001&json=1"
    # The mock runs half the cores' worker threads by default; the bare handler
    # is measured that way too when it differs from one per core.
    if (( MOCK_WORKERS != $(nproc) )); then
        P=$(port)
        start_server ceiling-same-workers $NICE "$CEILING" --bind "127.0.0.1:$P" --workers "$MOCK_WORKERS"
        "$DRIVER" wait-ready --url "http://127.0.0.1:$P/res.php"
        poll_start ceiling-same-workers "$SERVER_PID" "http://127.0.0.1:$P/res.php?key=$KEY&action=get&id=74000000001&json=1"
    fi

    P=$(port)
    start_server mock $NICE "$MOCK" --config "$ROOT/bench/mock.toml" --bind "127.0.0.1:$P"
    "$DRIVER" wait-ready --url "http://127.0.0.1:$P/res.php?key=$KEY&action=getbalance"
    POLL_ID=$("$DRIVER" get --url "http://127.0.0.1:$P/in.php?$SUBMIT_QUERY" | sed -n 's/.*"request":"\([0-9]*\)".*/\1/p')
    [[ -n "$POLL_ID" ]] || { echo "run.sh: could not submit a task to poll" >&2; exit 1; }
    poll_start mock "$SERVER_PID" "http://127.0.0.1:$P/res.php?key=$KEY&action=get&id=$POLL_ID&json=1"

    if ! skipped wiremock; then
        for variant in tuned defaults; do
            P=$(port)
            flags=(--port "$P" --bind-address 127.0.0.1 --root-dir "$WM_ROOT" --disable-banner)
            [[ $variant == tuned ]] && flags+=(--no-request-journal --disable-request-logging)
            start_server "wiremock-$variant" $NICE java -jar "$WM_JAR" "${flags[@]}"
            "$DRIVER" wait-ready --url "http://127.0.0.1:$P/res.php" --timeout-secs 120
            poll_start "wiremock-$variant" "$SERVER_PID" "http://127.0.0.1:$P/res.php?key=$KEY&action=get&id=74000000001&json=1"
            [[ $variant == tuned ]] && WM_TUNED_PORT=$P
            log "wiremock-$variant: JVM warm-up, ${WARM_WM}s of c64 polling"
            run_wrk "wiremock-$variant-warmup" 64 "$WARM_WM" "${POLL_URL[wiremock-$variant]}"
        done
    fi
    for name in "${POLLED[@]}"; do
        [[ $name == wiremock-* ]] && continue
        run_wrk "$name-warmup" 64 "$WARM" "${POLL_URL[$name]}"
    done

    for ((round = 1; round <= ROUNDS; round++)); do
        log "polling, round $round of $ROUNDS: ${POLLED[*]}, c64 then c256, ${DUR}s each"
        for name in "${POLLED[@]}"; do
            run_wrk "$name-c64-r$round" 64 "$DUR" "${POLL_URL[$name]}"
            run_wrk "$name-c256-r$round" 256 "$DUR" "${POLL_URL[$name]}"
        done
        if [[ -n "${WM_TUNED_PORT:-}" ]]; then
            # WireMock's best case: the same stub polled without a query
            # string (it tries to parse every query value as a date and
            # throws; see BENCHMARKS.md).
            run_wrk "wiremock-tuned-noquery-c64-r$round" 64 "$DUR" "http://127.0.0.1:$WM_TUNED_PORT/res.php"
            run_wrk "wiremock-tuned-noquery-c256-r$round" 256 "$DUR" "http://127.0.0.1:$WM_TUNED_PORT/res.php"
        fi
    done

    for name in "${POLLED[@]}"; do
        sustained "$name"
    done
    for name in "${POLLED[@]}"; do
        stop_server "${POLL_PID[$name]}"
    done
fi

# ---------------------------------------------------------------- submits
if ! skipped submit; then
    quiet "submit: bare axum"
    P=$(port)
    start_server ceiling-submit $NICE "$CEILING" --bind "127.0.0.1:$P"
    "$DRIVER" wait-ready --url "http://127.0.0.1:$P/res.php"
    log "bare axum: in.php for ${DUR}s (c64)"
    run_wrk "ceiling-submit-warmup" 64 "$WARM" "http://127.0.0.1:$P/in.php?$SUBMIT_QUERY"
    run_wrk "ceiling-submit" 64 "$DUR" "http://127.0.0.1:$P/in.php?$SUBMIT_QUERY"
    stop_server "$SERVER_PID"

    quiet "submit: captchaai-mock"
    P=$(port)
    start_server mock-submit $NICE "$MOCK" --config "$ROOT/bench/mock.toml" --bind "127.0.0.1:$P"
    "$DRIVER" wait-ready --url "http://127.0.0.1:$P/res.php?key=$KEY&action=getbalance"
    log "captchaai-mock: in.php for ${DUR}s (c64), a fresh task each request"
    run_wrk "mock-submit-warmup" 64 "$WARM" "http://127.0.0.1:$P/in.php?$SUBMIT_QUERY"
    "$DRIVER" get --url "http://127.0.0.1:$P/__admin/health" >"$OUT/health-mock-submit-before.json"
    run_wrk "mock-submit" 64 "$DUR" "http://127.0.0.1:$P/in.php?$SUBMIT_QUERY"
    "$DRIVER" get --url "http://127.0.0.1:$P/__admin/health" >"$OUT/health-mock-submit-after.json"
    stop_server "$SERVER_PID"
fi

# ---------------------------------------------------------------- memory
if ! skipped memory; then
    quiet "memory: $TASKS pending tasks"
    P=$(port)
    start_server mock-memory $NICE "$MOCK" --config "$ROOT/bench/mock.toml" --bind "127.0.0.1:$P"
    "$DRIVER" wait-ready --url "http://127.0.0.1:$P/res.php?key=$KEY&action=getbalance"
    sleep 1
    idle=$("$DRIVER" rss --pid "$SERVER_PID")
    log "captchaai-mock: submitting $TASKS tasks that never finish (bench-driver load, c64)"
    load=$($NICE "$DRIVER" load --url "http://127.0.0.1:$P/in.php?$SUBMIT_QUERY" \
        --connections 64 --count "$TASKS" --timeout-secs 600 --expect '{"status":1')
    sleep 1
    after=$("$DRIVER" rss --pid "$SERVER_PID")
    "$DRIVER" get --url "http://127.0.0.1:$P/__admin/health" >"$OUT/health-mock-memory.json"
    printf '{"tasks":%s,"idle_kib":%s,"after_kib":%s,"load":%s}\n' "$TASKS" "$idle" "$after" "$load" >"$OUT/memory.json"
    stop_server "$SERVER_PID"
fi

# ---------------------------------------------------------------- dashboard
# The mock with its dashboard open (`GET /__admin/`), against the same mock
# without: DASH_CLIENTS dashboard clients (`bench-driver dashboard`: the event
# stream held open and read, and the page's fetches on each event) open
# throughout the "on" runs. Polling: one mock, c64, rounds alternating off, on,
# off, on (DASH_ROUNDS of each); the ratio is the median of the per-round
# ratios. Memory: a fresh mock per run, DASH_TASKS submits (c64) in the first
# seconds of DASH_HOLD, the mock's RSS every half second throughout; off, on,
# off, on.
if ! skipped dashboard; then
    quiet "dashboard: polling"
    P=$(port)
    start_server mock-dash-poll $NICE "$MOCK" --config "$ROOT/bench/mock.toml" --bind "127.0.0.1:$P"
    DASH_PID=$SERVER_PID
    "$DRIVER" wait-ready --url "http://127.0.0.1:$P/res.php?key=$KEY&action=getbalance"
    DASH_ID=$("$DRIVER" get --url "http://127.0.0.1:$P/in.php?$SUBMIT_QUERY" | sed -n 's/.*"request":"\([0-9]*\)".*/\1/p')
    [[ -n "$DASH_ID" ]] || { echo "run.sh: could not submit a task to poll" >&2; exit 1; }
    DASH_URL="http://127.0.0.1:$P/res.php?key=$KEY&action=get&id=$DASH_ID&json=1"
    echo "$DASH_CLIENTS" >"$OUT/dash-clients.txt"
    run_wrk "dash-warmup" 64 "$WARM" "$DASH_URL"
    for ((round = 1; round <= DASH_ROUNDS; round++)); do
        log "dashboard, round $round of $DASH_ROUNDS: c64 polling for ${DUR}s without, then with $DASH_CLIENTS dashboard client(s) open"
        run_wrk "dash-off-c64-r$round" 64 "$DUR" "$DASH_URL"
        clients=()
        for ((i = 1; i <= DASH_CLIENTS; i++)); do
            timeout $((DUR + 60)) $NICE "$DRIVER" dashboard --url "http://127.0.0.1:$P/__admin" \
                --secs $((DUR + 2)) >"$OUT/dash-client-poll-r$round-$i.json" &
            clients+=($!)
        done
        sleep 1
        run_wrk "dash-on-c64-r$round" 64 "$DUR" "$DASH_URL"
        for c in "${clients[@]}"; do wait "$c" || log "warning: a dashboard client failed (round $round)"; done
    done
    stop_server "$DASH_PID"

    quiet "dashboard: memory"
    for ((round = 1; round <= DASH_ROUNDS; round++)); do
        for mode in off on; do
            log "dashboard memory, round $round of $DASH_ROUNDS, dashboard $mode: $DASH_TASKS submits, RSS every 0.5 s for ${DASH_HOLD}s"
            P=$(port)
            start_server "mock-dash-memory-$mode-r$round" $NICE "$MOCK" --config "$ROOT/bench/mock.toml" --bind "127.0.0.1:$P"
            "$DRIVER" wait-ready --url "http://127.0.0.1:$P/res.php?key=$KEY&action=getbalance"
            sleep 1
            idle=$("$DRIVER" rss --pid "$SERVER_PID")
            clients=()
            if [[ $mode == on ]]; then
                for ((i = 1; i <= DASH_CLIENTS; i++)); do
                    timeout $((DASH_HOLD + 60)) $NICE "$DRIVER" dashboard --url "http://127.0.0.1:$P/__admin" \
                        --secs "$DASH_HOLD" >"$OUT/dash-client-memory-r$round-$i.json" &
                    clients+=($!)
                done
            fi
            # The RSS, every half second for DASH_HOLD seconds (bounded).
            (
                for ((t = 0; t < DASH_HOLD * 2; t++)); do
                    printf '%s\t%s\n' "$t" "$("$DRIVER" rss --pid "$SERVER_PID")"
                    sleep 0.5
                done
            ) >"$OUT/dash-memory-$mode-r$round.tsv" &
            sampler=$!
            sleep 1
            load=$($NICE "$DRIVER" load --url "http://127.0.0.1:$P/in.php?$SUBMIT_QUERY" \
                --connections 64 --count "$DASH_TASKS" --timeout-secs 600 --expect '{"status":1')
            wait "$sampler"
            for c in "${clients[@]}"; do wait "$c" || log "warning: a dashboard client failed (memory, round $round)"; done
            after=$("$DRIVER" rss --pid "$SERVER_PID")
            printf '{"tasks":%s,"idle_kib":%s,"after_kib":%s,"load":%s}\n' "$DASH_TASKS" "$idle" "$after" "$load" \
                >"$OUT/dash-memory-$mode-r$round.json"
            stop_server "$SERVER_PID"
        done
    done
fi

# ---------------------------------------------------------------- journal
# The worst case of the inbound journal: rejected requests (a wrong key) with
# 30 MB bodies, one at a time, to a mock with its defaults. Its peak RSS (the
# kernel's high-water mark) against its idle RSS; then the size of the
# journal's answer.
if ! skipped journal; then
    quiet "journal: $FLOOD rejected 30 MB requests"
    P=$(port)
    start_server mock-journal $NICE "$MOCK" --bind "127.0.0.1:$P"
    "$DRIVER" wait-ready --url "http://127.0.0.1:$P/res.php?key=$KEY&action=getbalance"
    sleep 1
    log "captchaai-mock: $FLOOD POSTs of 30 MB to res.php?key=WRONG (bench-driver flood)"
    $NICE "$DRIVER" flood --url "http://127.0.0.1:$P/res.php?key=WRONG" --count "$FLOOD" \
        --bytes 30000000 --connections 1 --pid "$SERVER_PID" --expect ERROR_WRONG_USER_KEY \
        >"$OUT/journal.json"
    "$DRIVER" get --url "http://127.0.0.1:$P/__admin/journal?limit=100000" | wc -c \
        >"$OUT/journal-answer-bytes.txt"
    stop_server "$SERVER_PID"
fi

# ---------------------------------------------------------------- start-up
if ! skipped startup; then
    quiet "startup"
    log "start-up to the first HTTP 200: captchaai-mock and bare axum x$STARTUP_RUNS"
    $NICE "$DRIVER" startup --runs "$STARTUP_RUNS" \
        --url "http://127.0.0.1:{port}/res.php?key=$KEY&action=getbalance" \
        -- "$MOCK" --bind "127.0.0.1:{port}" >"$OUT/startup-mock.json"
    $NICE "$DRIVER" startup --runs "$STARTUP_RUNS" --url "http://127.0.0.1:{port}/res.php" \
        -- "$CEILING" --bind "127.0.0.1:{port}" >"$OUT/startup-ceiling.json"
    if ! skipped wiremock; then
        log "start-up to the first HTTP 200: WireMock x$STARTUP_RUNS_WM"
        $NICE "$DRIVER" startup --runs "$STARTUP_RUNS_WM" --timeout-secs 120 \
            --url "http://127.0.0.1:{port}/res.php" \
            -- java -jar "$WM_JAR" --port "{port}" --bind-address 127.0.0.1 \
            --root-dir "$WM_ROOT" --disable-banner >"$OUT/startup-wiremock.json"
    fi
fi

# ---------------------------------------------------------------- pingback
if ! skipped pingback; then
    quiet "pingback"
    log "pingback delivery: cargo bench -p captchaai-mock --bench pingback_delivery (N=$PB_N, rounds=$PB_ROUNDS)"
    PINGBACK_BENCH_N=$PB_N PINGBACK_BENCH_ROUNDS=$PB_ROUNDS PINGBACK_BENCH_CONCURRENCY=64 \
        timeout 1200 $NICE cargo bench -q -p captchaai-mock --bench pingback_delivery \
        >"$OUT/pingback.txt" 2>"$OUT/pingback.stderr" \
        || log "warning: the pingback bench failed (see $OUT/pingback.stderr)"
fi

# ---------------------------------------------------------------- conformance
if ! skipped conformance; then
    quiet "conformance"
    log "conformance suite: captchaai-conformance run scenarios --format json"
    start_ns=$(date +%s%N)
    rc=0
    timeout 1200 $NICE "$CONFORMANCE" run scenarios --format json >"$OUT/conformance.json" \
        2>"$OUT/conformance.stderr" || rc=$?
    end_ns=$(date +%s%N)
    printf '{"exit_code":%s,"process_wall_ms":%s}\n' "$rc" $(((end_ns - start_ns) / 1000000)) \
        >"$OUT/conformance-process.json"
fi

# ---------------------------------------------------------------- load
# scale_scenario N FILE: scenarios/load/thousand-faulted.toml with its counts,
# thread cap and submit rate multiplied by N/1000 (nothing else changes, so the
# submits span the same simulated time and the faults keep their shares).
scale_scenario() {
    local n=$1 file=$2 f=$(( $1 / 1000 ))
    sed -e "s/^name = \"thousand-faulted\"/name = \"load-$n\"/" \
        -e "s/^description = \"1,000 tasks/description = \"$n tasks/" \
        -e "s/^threads = 2000\$/threads = $((2000 * f))/" \
        -e "s/^submit = { per-second = 50 }\$/submit = { per-second = $((50 * f)) }/" \
        -e "s/count = 500 }/count = $((500 * f)) }/" \
        -e "s/count = 300 }/count = $((300 * f)) }/" \
        -e "s/count = 200 }/count = $((200 * f)) }/" \
        scenarios/load/thousand-faulted.toml >"$file"
    # Every substitution must have taken: the scenario is what the figures are about.
    local want
    for want in "name = \"load-$n\"" "threads = $((2000 * f))" "per-second = $((50 * f))" \
        "count = $((500 * f)) }" "count = $((300 * f)) }" "count = $((200 * f)) }"; do
        grep -qF "$want" "$file" || { echo "run.sh: scaling the load scenario: no '$want' in $file (did thousand-faulted.toml change?)" >&2; exit 1; }
    done
}

# load_run NAME TIMEOUT SCENARIO [FLAGS...]: one run of the harness on a scaled scenario,
# its report in NAME.json, GNU time's figures in NAME-time.json, its exit code in
# NAME-exit.txt.
load_run() {
    local name=$1 limit=$2 scenario=$3 rc=0
    shift 3
    # GNU time: the process's wall time and its peak RSS (ru_maxrss, KiB).
    /usr/bin/time -o "$OUT/$name-time.json" \
        -f '{"process_wall_s":%e,"peak_kib":%M,"user_s":%U,"sys_s":%S}' \
        timeout "$limit" $NICE "$CONFORMANCE" run "$scenario" --json "$OUT/$name.json" "$@" \
        >"$OUT/$name.txt" 2>&1 || rc=$?
    echo "$rc" >"$OUT/$name-exit.txt"
    # GNU time adds a line before the figures when the command fails.
    grep '^{' "$OUT/$name-time.json" >"$OUT/$name-time.tmp" || true
    mv "$OUT/$name-time.tmp" "$OUT/$name-time.json"
}

# The same sizes with the reference receiver's store on Redis (`--reference-store`): a
# fresh redis-server per size (persistence off, a free loopback port, stopped after the
# run), so that its peak memory (INFO memory, used_memory_peak) is that run's.
# `--skip load-redis` leaves them out.
REDIS_SERVER_PID=""
start_load_redis() {
    local dir=$1
    REDIS_PORT=$(port)
    mkdir -p "$dir"
    start_server "redis-$REDIS_PORT" $NICE redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
        --save "" --appendonly no --dir "$dir" --daemonize no
    REDIS_SERVER_PID=$SERVER_PID
    local i
    for i in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    echo "run.sh: redis-server did not start on port $REDIS_PORT (see $OUT/server-redis-$REDIS_PORT.log)" >&2
    exit 1
}

if ! skipped load; then
    if ! skipped load-redis; then
        if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
            log "installing redis-server (the load section's Redis runs): apt-get install -y redis-server"
            apt-get update -qq && apt-get install -y -qq redis-server
        fi
        echo "$(redis-server --version)" >"$OUT/load-redis-version.txt"
    fi
    echo "$LOAD_SIZES" >"$OUT/load-sizes.txt"
    for n in $LOAD_SIZES; do
        quiet "load: $n tasks"
        log "load: the conformance flow on $n tasks (scenarios/load/thousand-faulted.toml scaled)"
        scale_scenario "$n" "$OUT/load-$n.toml"
        load_run "load-$n" 1800 "$OUT/load-$n.toml"
        if ! skipped load-redis && [[ " $LOAD_REDIS_SIZES " == *" $n "* ]]; then
            quiet "load: $n tasks, store on redis"
            start_load_redis "$OUT/redis-$n"
            log "load: $n tasks, the reference receiver's store on redis-server :$REDIS_PORT (--reference-store)"
            load_run "load-redis-$n" 3600 "$OUT/load-$n.toml" \
                --reference-store "redis://127.0.0.1:$REDIS_PORT/"
            redis-cli -p "$REDIS_PORT" info memory | tr -d '\r' >"$OUT/load-redis-$n-memory.txt" || true
            redis-cli -p "$REDIS_PORT" dbsize >"$OUT/load-redis-$n-keys.txt" || true
            stop_server "$REDIS_SERVER_PID"
            rm -rf "$OUT/redis-$n"
        fi
    done
fi

# ---------------------------------------------------------------- table
log "results in ${OUT#$ROOT/}"
"$DRIVER" report "$OUT" | tee "$OUT/table.md"
