#!/usr/bin/env bash
# Ingestion benchmark: streaming IngestEvents into MariaDB vs a raw bulk INSERT of the same
# rows through the same driver, in one run. Release build. Results go to BENCHMARKS.md by hand
# (with the machine and the date this script prints).
#   scripts/bench-ingest.sh [--events N] [--batch N] [--streams N] [--rounds N] [--phase-clock]
set -euo pipefail
cd "$(dirname "$0")/.."
CARAVAN_TEST_MYSQL_URL="$(scripts/mariadb-test-user.sh)"
export CARAVAN_TEST_MYSQL_URL
# `caravan` too: the harness makes the server's API key with `caravan keys create`.
cargo build --release --locked --bin caravan-ingestion --bin caravan --bin caravan-bench-ingest
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; MariaDB $(mariadb -uroot -N -e 'select version()'); $(date -u +%F)"
target/release/caravan-bench-ingest "$@"
