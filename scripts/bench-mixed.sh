#!/usr/bin/env bash
# The mixed load of issue 20: 64 callers on Recommend, GetProfile and ScoreStrategies while an
# ingestion stream runs, against the real `caravan serve` (all four services in one process)
# on a fresh MariaDB database with the Online Retail file imported, an EASE model trained and
# five strategies (see integration-tests/src/bin/bench_mixed.rs). Release build. Prints per
# RPC calls/s, p50/p99/max and errors by kind, a sample every 10 s (server RSS, p99 per RPC),
# and whether the RSS stayed flat. Loopback only; bounded in time. Results go to
# BENCHMARKS.md by hand, with the machine line and the load this script prints.
#   scripts/bench-mixed.sh [--rate N] [--csv PATH] [--ingest-rate N] [--env KEY=VALUE] ...
#   DURATION=30m scripts/bench-mixed.sh   (or scripts/soak.sh)
# SKIP_BUILD=1 uses the release binaries already in target/release; BIN=DIR those in DIR (a
# copy of both, so that builds running meanwhile cannot change them between runs). On a shared
# machine, a copy of `caravan` under another name in DIR (--server-binary NAME) is safe from a
# `pkill caravan` aimed at other servers.
set -euo pipefail
cd "$(dirname "$0")/.."
CARAVAN_TEST_MYSQL_URL="$(scripts/mariadb-test-user.sh)"
export CARAVAN_TEST_MYSQL_URL
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    # `caravan` serves, imports and makes the API keys.
    cargo build --release --locked --bin caravan --bin caravan-bench-mixed
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; MariaDB $(mariadb -uroot -N -e 'select version()'); $(date -u '+%F %H:%M UTC'); commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' plus uncommitted changes')"
# What else runs on the machine, before and after.
busy() {
    echo "$1: load average $(cut -d' ' -f1-3 /proc/loadavg); busiest processes:"
    top -bn1 -c -o %CPU -w 200 | sed -n '8,13p' | awk '{c=$12; for (i=13; i<=NF && i<16; i++) c=c" "$i; printf "  %s%% %s\n", $9, substr(c, 1, 110)}'
}
busy before
"${BIN:-target/release}/caravan-bench-mixed" --duration "${DURATION:-2m}" "$@"
busy after
