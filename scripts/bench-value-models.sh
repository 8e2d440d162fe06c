#!/usr/bin/env bash
# Holdout error of each purchase-frequency model (BG/NBD, MBG/NBD, Pareto/NBD) and of the
# service's own choice, on CDNOW (weeks) and Online Retail (weeks and days), side by side
# with lifetimes 0.11.3 fitted on the very same purchase lists (issue 18, "model choice by
# evidence"). A benchmark, not a test: minutes, and a Python venv with lifetimes.
#
#   scripts/bench-value-models.sh [--budget-seconds N]     (default 120 per fit)
#
# Results: target/bench-value-models/*.jsonl and a Markdown table on stdout.
# BIN=dir SKIP_BUILD=1 uses a caravan-value-model-holdout built elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=120
while [[ $# -gt 0 ]]; do
  case "$1" in
    --budget-seconds) BUDGET="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
OUT=target/bench-value-models
mkdir -p "$OUT"
VENV=.tools/lifetimes-venv
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "bench-value-models: installing lifetimes 0.11.3 into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "lifetimes==0.11.3" "pandas<2.2" "numpy<2" scipy
fi
scripts/fetch-cdnow.sh >/dev/null
prepare() { python3 scripts/bench_value_models_lifetimes.py prepare "$@"; }
prepare online-retail data/online_retail/online_retail.csv.gz "$OUT/online-retail.csv"
prepare cdnow .tools/datasets/cdnow/CDNOW_sample.txt "$OUT/cdnow.csv"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  cargo build --release --locked -p caravan-profiling --bin caravan-value-model-holdout >&2
fi
BIN="${BIN:-target/release}/caravan-value-model-holdout"

run() {
  local name=$1 file=$2 calibration_end=$3 holdout_end=$4 unit=$5
  echo "bench-value-models: $name" >&2
  "$BIN" --purchases "$file" --calibration-end "$calibration_end" \
    --holdout-end "$holdout_end" --time-unit "$unit" --budget-seconds "$BUDGET" \
    > "$OUT/$name-caravan.jsonl"
  "$VENV/bin/python" scripts/bench_value_models_lifetimes.py lifetimes "$file" \
    "$calibration_end" "$holdout_end" "$unit" > "$OUT/$name-lifetimes.jsonl" \
    2> "$OUT/$name-lifetimes.err"
}
# CDNOW: the 39 + 39 weeks of Fader, Hardie & Lee (2005).
run cdnow-week "$OUT/cdnow.csv" 1997-09-30 1998-06-30 week
# Online Retail: nine months of calibration, the last three months held out.
run online-retail-week "$OUT/online-retail.csv" 2011-09-09 2011-12-09 week
run online-retail-day "$OUT/online-retail.csv" 2011-09-09 2011-12-09 day

python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print("| data | model | side | parameters | holdout predicted / actual | RMSE | MAE | s |")
print("|---|---|---|---|---|---|---|---|")
for name in ["cdnow-week", "online-retail-week", "online-retail-day"]:
    for side in ["caravan", "lifetimes"]:
        for line in (out / f"{name}-{side}.jsonl").read_text().splitlines():
            if not line.startswith("{"):
                continue  # scipy prints its optimiser's report when lifetimes fails
            d = json.loads(line)
            model = d["model"] + (f" → {d['chosen']}" if "chosen" in d else "")
            if "error" in d:
                print(f"| {name} | {model} | {d['side']} | failed: {d['error'][:120]} | | | | {d['seconds']:.1f} |")
                continue
            params = ", ".join(f"{k} {v:.4g}" for k, v in d["params"].items())
            holdout = (f"{d['predicted']:.1f} / {d['actual']}" if d.get("predicted") is not None
                       else "(choice on the calibration's last third)")
            rmse = f"{d['rmse']:.4f}" if d.get("rmse") is not None else ""
            mae = f"{d['mae']:.4f}" if d.get("mae") is not None else ""
            note = ""
            if d.get("candidate_errors"):
                note = " (" + "; ".join(f"{k}: {v[:80]}" for k, v in d["candidate_errors"].items()) + ")"
            print(f"| {name} | {model}{note} | {d['side']} | {params} | {holdout} | {rmse} | {mae} | {d['seconds']:.2f} |")
PY
