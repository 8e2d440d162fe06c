#!/usr/bin/env bash
# How fast one profiling replica turns ingested events into portraits (issue 17): a backlog
# built from all events, a backlog applied to stored event summaries, and the outbox lag under
# a steady stream (see integration-tests/src/bin/bench_consumer.rs). Release build, MariaDB.
# Results go to BENCHMARKS.md by hand, with the machine line this script prints.
#   scripts/bench-consumer.sh [--events N] [--customers N] [--rate N] [--seconds N] [--replicas N --partitions N]
# SKIP_BUILD=1 uses the release binaries already in target/release; BIN=DIR those in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
CARAVAN_TEST_MYSQL_URL="$(scripts/mariadb-test-user.sh)"
export CARAVAN_TEST_MYSQL_URL
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    # `caravan` makes the API keys the harness gives the servers.
    cargo build --release --locked --bin caravan --bin caravan-ingestion --bin caravan-profiling \
        --bin caravan-bench-consumer
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; MariaDB $(mariadb -uroot -N -e 'select version()'); $(date -u '+%F %H:%M UTC'); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' plus uncommitted changes'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
"${BIN:-target/release}/caravan-bench-consumer" "$@"
