#!/usr/bin/env bash
# The fault drill at full size (issue 20, item 7): events with caller ids streamed into
# caravan-ingestion with two caravan-profiling replicas on a private MariaDB (its own data
# directory, port and socket: scripts/own-mariadb.sh; the shared server is not touched)
# while ingestion, MariaDB and the profiling lease holder are killed with SIGKILL and
# started again; then it counts lost and duplicated events, the outbox and the profiles.
# Release build. Exits 1 on any violation. Results go to RELIABILITY.md by hand, with the
# machine line and the command this script prints.
#   scripts/fault-drill.sh [--events N] [--streams N] [--customers N] [--faults N] [...]
#   (target/release/caravan-fault-drill --help lists every flag; the short form runs in
#   `cargo test` as integration-tests/tests/operations_faults.rs)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/own-mariadb.sh check
# `caravan` too: the harness makes each server's API key with `caravan keys create`.
cargo build --release --locked --bin caravan-ingestion --bin caravan-profiling --bin caravan \
    --bin caravan-fault-drill
changes=""
git diff --quiet HEAD 2>/dev/null || changes=" (with uncommitted changes)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; $(scripts/own-mariadb.sh version)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$changes; $(date -u +%FT%TZ)"
echo "command: scripts/fault-drill.sh $*"
start=$(date +%s)
status=0
target/release/caravan-fault-drill "$@" || status=$?
echo "wall time: $(($(date +%s) - start)) s"
exit "$status"
