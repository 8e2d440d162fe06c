#!/usr/bin/env bash
# buf breaking: the contracts in proto/ against the previous commit's (HEAD~1), at buf's
# strictest level (FILE, proto/buf.yaml). Fails on any change an existing client could
# notice: a removed or renumbered field, a changed type, a moved message, a removed RPC.
# With no previous commit in the clone (the first commit, or a --depth 1 clone) there is
# nothing to compare against: that is said, and the check passes.
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=${BUF:-$PWD/.tools/bin/buf}

if ! git rev-parse --verify -q 'HEAD~1^{commit}' >/dev/null; then
  echo "buf breaking: no previous commit in this clone; nothing to compare against"
  exit 0
fi
base=$(git rev-parse --short 'HEAD~1')
(cd proto && "$BUF" breaking --against "../.git#ref=HEAD~1,subdir=proto")
echo "buf breaking: proto/ is compatible with $base"
