#!/usr/bin/env bash
# Recommendation benchmark: Caravan's models (caravan-rec-eval, release) and the Python
# `implicit` library's ALS + a popularity baseline, on the same Online Retail time split, in
# one run. Writes target/rec-bench/{rust,implicit}.json and target/rec-bench/combined.md.
#
#   scripts/bench-recommendation.sh [--quick]
# Env: DATA (default data/online_retail/online_retail.csv.gz); COMBINE_ONLY=1 only
# re-renders the table from existing JSON.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA="${DATA:-data/online_retail/online_retail.csv.gz}"
OUT=target/rec-bench
VENV=.tools/venv-rec
QUICK=()
if [[ "${1:-}" == "--quick" ]]; then QUICK=(--quick); fi
mkdir -p "$OUT"

if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check implicit numpy scipy pandas

if [[ -z "${COMBINE_ONLY:-}" ]]; then
  cargo build --release -p caravan-recommendation --bin caravan-rec-eval
  echo "== caravan-rec-eval (log: $OUT/rust.log)" >&2
  ./target/release/caravan-rec-eval --data "$DATA" --json "$OUT/rust.json" "${QUICK[@]}" >"$OUT/rust.md" 2>"$OUT/rust.log"
  echo "== implicit (log: $OUT/implicit.log)" >&2
  OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 "$VENV/bin/python" scripts/bench_recommendation_implicit.py \
    --data "$DATA" --json "$OUT/implicit.json" "${QUICK[@]}" 2>"$OUT/implicit.log"
fi

"$VENV/bin/python" - "$OUT" <<'PY'
import json, subprocess, sys, datetime
out = sys.argv[1]
rust = json.load(open(f"{out}/rust.json"))
py = json.load(open(f"{out}/implicit.json"))
assert rust["test_users"] == py["test_users"] and rust["train_items"] == py["train_items"], "splits differ"
k = rust["k"]
rows = [(r["model"], r["metrics"], r["train_seconds"], r["config"]) for r in rust["test"]]
rows += [(r["model"], r["metrics"], r["train_seconds"], r["config"]) for r in py["test"]]
rows.sort(key=lambda r: -r[1]["ndcg"])
sh = lambda c: subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
cpu = sh("lscpu | grep 'Model name' | sed 's/  */ /g'")
lines = [
    f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: nproc={sh('nproc')}, "
    f"{cpu}; implicit {py['implicit_version']}.",
    f"Train: {rust['train_users']} customers x {rust['train_items']} items ({rust['train_nnz']} cells) before {rust['cutoff']}; "
    f"evaluated on {rust['test_users']} customers. Hyper-parameters and blend weights chosen on train < {rust['val_cutoff']} / "
    f"validate [{rust['val_cutoff']}, {rust['cutoff']}).",
    "",
    f"| model | P@{k} | R@{k} | NDCG@{k} | HR@{k} | coverage@{k} | train s | config |",
    "|---|---|---|---|---|---|---|---|",
]
for name, m, s, cfg in rows:
    lines.append(f"| {name} | {m['precision']:.4f} | {m['recall']:.4f} | {m['ndcg']:.4f} | {m['hit_rate']:.4f} | {m['coverage']:.4f} | {s:.2f} | {cfg} |")
lines.append("")
lines.append("Serving (score all items + top-10, one thread, mean over 200 users): " + ", ".join(
    f"{n} {us:.0f} µs" for n, us in rust["serve_micros_per_user"].items()))
open(f"{out}/combined.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
