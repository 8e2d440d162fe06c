#!/usr/bin/env bash
# Recommendation serving benchmark on the full UCI Online Retail file:
#   1. a fresh MariaDB database `caravan_bench_rec`, filled by `caravan import online-retail`
#      through the real caravan-ingestion binary (skipped with REUSE_DB=1);
#   2. every product given stock 100 (the import has no stock figures, and out-of-stock items
#      are never recommended);
#   3. caravan-recommendation (release; 15 min request deadline, Evaluate is synchronous) with
#      profiling unreachable (no content signal, as
#      when profiling is down; set PROFILING_ADDR to use a running profiling service);
#   4. caravan-bench-recommend: trains KIND (default EASE) through StartTraining and reports the
#      training wall time and the server's RSS, then 64 concurrent callers (CONCURRENCY) call
#      Recommend (count 10, every imported customer in turn) for BENCH_SECONDS (default 20)
#      after a 3 s warm-up: p50/p90/p99/max latency, throughput, errors. EVALUATE=1 first runs
#      Evaluate on the offline benchmark's split (train < 2011-09-01, test to 2011-12-10).
#      RATE=N makes it open loop: N requests/s in total, latency from the scheduled send time.
# API keys are made with `caravan keys create` on the database: one with the admin scope for
# the import (it creates the merchant), one with read,write and a rate limit far above any
# benchmark rate for the benchmark (the default per-key limit, auth.rate_limit_per_second,
# would cap it and turn the excess into RESOURCE_EXHAUSTED errors). Both are handed over in
# CARAVAN_API_KEY, never on a command line.
# AUTH_AB=N (with KIND=, a model already deployed): the cost of authentication. A second
# caravan-recommendation with CARAVAN__AUTH__ENABLED=false (allowed on loopback only) on the
# same database, and the load run N times against each server, alternating (on off, off on,
# on off, ...), so that the machine's drift weighs on both alike. The callers present their
# key to both.
# Loopback only; every loop is bounded in time. Results go to BENCHMARKS.md by hand with the
# machine line this script prints.
#   scripts/bench-recommend-serving.sh   (PER_CALLER_TIMERS=1: the first open-loop pacing, see the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_URL="$(scripts/mariadb-test-user.sh)"
DB=caravan_bench_rec
URL="${BASE_URL%/*}/$DB"
DATA=${DATA:-data/online_retail/online_retail.csv.gz}
KIND=${KIND-EASE}  # KIND= (empty) serves the stored serving model without training
CONCURRENCY=${CONCURRENCY:-64}
BENCH_SECONDS=${BENCH_SECONDS:-20}
PROFILING_ADDR=${PROFILING_ADDR:-http://127.0.0.1:9}
OUT=target/rec-serving
mkdir -p "$OUT"

# SKIP_BUILD=1 uses the release binaries already in target/release.
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release --locked --bin caravan-ingestion --bin caravan --bin caravan-recommendation --bin caravan-bench-recommend
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; MariaDB $(mariadb -uroot -N -e 'select version()'); $(date -u '+%F %H:%M UTC'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"

wait_port() {
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "port $1 did not open" >&2
    return 1
}

# Prints a new API key for every merchant with the scopes $1 (migrates the database first
# if it is new).
create_key() {
    CARAVAN__DATABASE__URL="$URL" CARAVAN__TELEMETRY__LOG_FILTER=warn \
        target/release/caravan keys create --merchant '*' --scope "$1" --rate-limit 1000000 \
        --name bench-recommend-serving
}

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

if [ "${REUSE_DB:-0}" != 1 ]; then
    mariadb -uroot -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
    IMPORT_KEY="$(create_key read,write,admin)"
    # Ingestion calls profiling (exports) with clients.api_key, required with auth on.
    CARAVAN__DATABASE__URL="$URL" CARAVAN__TELEMETRY__METRICS_LISTEN_ADDR=127.0.0.1:0 CARAVAN__SERVER__LISTEN_ADDR=127.0.0.1:50071 \
        CARAVAN__CLIENTS__API_KEY="$IMPORT_KEY" \
        CARAVAN__TELEMETRY__LOG_FILTER=warn target/release/caravan-ingestion >"$OUT/ingestion.log" 2>&1 &
    ING=$!
    PIDS+=("$ING")
    wait_port 50071
    start=$(date +%s)
    rm -f "$OUT/import.checkpoint.json"
    CARAVAN_API_KEY="$IMPORT_KEY" target/release/caravan import online-retail --merchant retail --create-merchant \
        --file "$DATA" --target http://127.0.0.1:50071 \
        --rejects "$OUT/rejects.csv" --checkpoint "$OUT/import.checkpoint.json" | tail -5
    echo "import: $(( $(date +%s) - start )) s"
    kill "$ING"
    wait "$ING" 2>/dev/null || true
fi
mariadb -uroot "$DB" -e "UPDATE products SET stock = 100 WHERE merchant_id = 'retail'"
mariadb -uroot -N "$DB" -e "SELECT id FROM customers WHERE merchant_id = 'retail' ORDER BY id" >"$OUT/customers.txt"
echo "customers: $(wc -l <"$OUT/customers.txt"), products: $(mariadb -uroot -N "$DB" -e "SELECT COUNT(*) FROM products WHERE merchant_id = 'retail'"), order lines: $(mariadb -uroot -N "$DB" -e "SELECT COUNT(*) FROM order_lines WHERE merchant_id = 'retail'")"

BENCH_KEY="$(create_key read,write)"
# Starts caravan-recommendation on port $1, logging to $2 (extra environment before the call).
# The server's own key is for its calls to profiling (when PROFILING_ADDR points at one).
start_recommendation() {
    CARAVAN__DATABASE__URL="$URL" CARAVAN__TELEMETRY__METRICS_LISTEN_ADDR=127.0.0.1:0 CARAVAN__SERVER__LISTEN_ADDR="127.0.0.1:$1" \
        CARAVAN__CLIENTS__API_KEY="$BENCH_KEY" CARAVAN__CLIENTS__PROFILING_ADDR="$PROFILING_ADDR" CARAVAN__TELEMETRY__LOG_FILTER=warn \
        CARAVAN__SERVER__REQUEST_TIMEOUT_MS=900000 \
        target/release/caravan-recommendation >"$2" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_port "$1"
}
# The load against port $1, server process $2; further arguments are passed on.
load() {
    local port=$1 pid=$2
    shift 2
    CARAVAN_API_KEY="$BENCH_KEY" target/release/caravan-bench-recommend --target "http://127.0.0.1:$port" --merchant retail \
        --customers "$OUT/customers.txt" --pid "$pid" \
        --concurrency "$CONCURRENCY" --seconds "$BENCH_SECONDS" ${RATE:+--rate "$RATE"} ${PER_CALLER_TIMERS:+--per-caller-timers} "$@"
}

start_recommendation 50073 "$OUT/recommendation.log"
REC=$SERVER_PID
if [ -z "${AUTH_AB:-}" ]; then
    load 50073 "$REC" ${KIND:+--train "$KIND"} ${EVALUATE:+--evaluate}
    exit 0
fi
if [ -n "$KIND" ] || [ -n "${EVALUATE:-}" ]; then
    echo "AUTH_AB needs KIND= and no EVALUATE: it serves the model already deployed" >&2
    exit 1
fi
CARAVAN__AUTH__ENABLED=false start_recommendation 50074 "$OUT/recommendation-auth-off.log"
OFF=$SERVER_PID
for i in $(seq 1 "$AUTH_AB"); do
    order="on off"
    if [ $((i % 2)) = 0 ]; then order="off on"; fi
    for auth in $order; do
        echo "round $i, auth $auth: $(date -u '+%H:%M:%S UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
        if [ "$auth" = on ]; then load 50073 "$REC"; else load 50074 "$OFF"; fi
    done
done
