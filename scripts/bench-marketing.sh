#!/usr/bin/env bash
# Marketing benchmark: batch strategy scores per second (domain scorer, one thread) and
# ScoreStrategies latency including the profiling gRPC hop, on MariaDB. Release build.
# Results go to BENCHMARKS.md by hand (with the machine and the date this script prints).
#   scripts/bench-marketing.sh [--batch-customers N] [--customers N] [--calls N] [--auth on|off]
# --auth on (default): the real access guard in front of the in-process profiling and marketing
# servers; --auth off: the same guard with auth.enabled = false (loopback only).
set -euo pipefail
cd "$(dirname "$0")/.."
CARAVAN_TEST_MYSQL_URL="$(scripts/mariadb-test-user.sh)"
export CARAVAN_TEST_MYSQL_URL
# `caravan` too: the harness makes the server's API key with `caravan keys create`.
cargo build --release --locked --bin caravan-ingestion --bin caravan --bin caravan-bench-marketing
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; MariaDB $(mariadb -uroot -N -e 'select version()'); $(date -u +%F)"
target/release/caravan-bench-marketing "$@"
