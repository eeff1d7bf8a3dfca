#!/usr/bin/env bash
# The table of docs/client-results.md: the reference client, the README's polite client, the
# naive client and the official CaptchaAI SDK (through its adapter) on the client scenarios of
# issue 15, each graded by the conformance harness. Prints the Markdown table on stdout; the
# JSON reports stay in $OUT (default: a fresh temporary folder).
#
# Needs python3 and the SDK's virtualenv (scripts/setup-python-peer.sh). Run from the
# repository root: scripts/client-results.sh > table.md
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS=(
  scenarios/failures/pingback-dropped.toml
  scenarios/failures/no-slot-burst.toml
  scenarios/failures/zero-balance-stops.toml
  scenarios/failures/errors-mid-poll.toml
  scenarios/failures/never-finishes-pingback.toml
  scenarios/failures/never-finishes-poll-only.toml
  scenarios/failures/escalating-blocks.toml
  scenarios/failures/blocked-mid-poll.toml
)
OUT=${OUT:-$(mktemp -d)}
cargo build -q -p captchaai-conformance
BIN=${CARGO_TARGET_DIR:-target}/debug/captchaai-conformance

run() { # name, then the subject's flags
  local name=$1
  shift
  # Exit code 1 (a check failed) is a result here, not an error.
  "$BIN" run --format json --redact-timings "$@" "${SCENARIOS[@]}" >"$OUT/$name.json" || [ $? -eq 1 ]
}
run reference
run polite --client-cmd "python3 adapters/polite_client.py"
run naive --client-cmd "python3 adapters/naive_client.py"
run sdk --client-cmd ".venv/bin/python adapters/captchaai_sdk_adapter.py"

python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
subjects = [("reference", "reference client"), ("polite", "polite client"),
            ("naive", "naive client"), ("sdk", "official SDK")]
reports = {k: {s["id"]: s for s in json.load(open(f"{out}/{k}.json"))["scenarios"]}
           for k, _ in subjects}
print("| scenario | " + " | ".join(label for _, label in subjects) + " |")
print("|---|" + "---|" * len(subjects))
for sid in sorted(reports["reference"]):
    cells = []
    for k, _ in subjects:
        s = reports[k][sid]
        by = lambda v: [c["id"] for c in s["checks"] if c["verdict"] == v]
        parts = [f"{v.lower()}: {', '.join(by(v))}"
                 for v in ("FAILED", "NOT-GRADED", "NON-STRICT") if by(v)]
        cells.append(f"**{s['verdict']}**" + (" (" + "; ".join(parts) + ")" if parts else ""))
    print(f"| `{sid}` | " + " | ".join(cells) + " |")
EOF
