#!/usr/bin/env bash
# Memory under hostile-but-valid load: many concurrent large BatchIngestEvents against the
# release caravan-ingestion on MariaDB; stored vs refused (RESOURCE_EXHAUSTED) per round and
# the server's peak RSS against the pod limit. Results go to BENCHMARKS.md by hand.
#   scripts/bench-hostile-batches.sh [--callers 32] [--events 10000] [--event-bytes 1500]
#                                    [--rounds 3] [--limit-mib 512] [--env KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
CARAVAN_TEST_MYSQL_URL="$(scripts/mariadb-test-user.sh)"
export CARAVAN_TEST_MYSQL_URL
cargo build --release --locked --bin caravan-ingestion --bin caravan --bin caravan-bench-hostile-batches
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; MariaDB $(mariadb -uroot -N -e 'select version()'); $(date -u +%F)"
target/release/caravan-bench-hostile-batches "$@"
