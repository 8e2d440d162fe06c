#!/usr/bin/env bash
# How fast MariaDB alone loads rows shaped like `events`, with no Caravan code involved: the
# floor under scripts/bench-ingest.sh. Generates 200,000 rows as multi-row INSERTs of 1,000
# rows (one transaction each) and loads them with the `mariadb` command-line client into a
# scratch database `caravan_bench_events`, for several table variants, on 1 and 4
# connections. Results go to BENCHMARKS.md by hand.
#   scripts/bench-events-table.sh [ROWS]
set -euo pipefail
rows="${1:-200000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"; mariadb -uroot -e "DROP DATABASE IF EXISTS caravan_bench_events"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); MariaDB $(mariadb -uroot -N -e 'select version()'); $(date -u +%F)"

python3 - "$rows" "$work" <<'EOF'
import os, random, sys
rows, work = int(sys.argv[1]), sys.argv[2]
random.seed(1)
for variant in ("json", "blob"):
    with open(f"{work}/{variant}.sql", "w") as out:
        for start in range(0, rows, 1000):
            values = []
            for i in range(start, min(rows, start + 1000)):
                pb = os.urandom(40).hex()
                payload = "'{\"v\":1,\"pb\":\"%s\"}'" % pb if variant == "json" else "X'01%s'" % pb
                values.append(
                    "('bench','bench-%d','c-%d','product_view','2026-11-01 10:00:%02d.123456',"
                    "'s-%d',NULL,%s,'2026-11-24 05:00:00')"
                    % (i, random.randrange(5000), i % 60, i // 20, payload))
            out.write("BEGIN;INSERT INTO events (merchant_id,event_id,customer_id,kind,"
                      "occur_time,session_id,source,payload,ingested_at) VALUES "
                      + ",".join(values) + ";COMMIT;\n")
EOF
for variant in json blob; do
  split -n l/4 -d "$work/$variant.sql" "$work/$variant.part"
done

load() { # payload type, index clause, file variant, connections, label
  mariadb -uroot -e "DROP DATABASE IF EXISTS caravan_bench_events; CREATE DATABASE caravan_bench_events;
    CREATE TABLE caravan_bench_events.events (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      merchant_id VARCHAR(64) NOT NULL, event_id VARCHAR(128) NOT NULL,
      customer_id VARCHAR(64) NOT NULL, kind VARCHAR(32) NOT NULL, occur_time DATETIME(6) NOT NULL,
      session_id VARCHAR(128) NULL, source VARCHAR(64) NULL, payload $1 NOT NULL,
      ingested_at DATETIME(6) NOT NULL $2) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
  local start end
  start=$(date +%s.%N)
  if [ "$4" = 1 ]; then
    mariadb -uroot caravan_bench_events < "$work/$3.sql"
  else
    for part in "$work/$3".part0*; do mariadb -uroot caravan_bench_events < "$part" & done
    wait
  fi
  end=$(date +%s.%N)
  python3 -c "print(f'| $1 | $5 | $4 | {$rows / ($end - $start):,.0f} rows/s |')"
}

uq=", UNIQUE KEY uq (merchant_id, event_id), KEY ct (merchant_id, customer_id, occur_time)"
kt=", KEY kt (merchant_id, kind, occur_time)"
echo "| payload | secondary indexes | connections | rows/s |"
echo "|---|---|---|---|"
for conns in 1 4; do
  load JSON "$uq$kt" json "$conns" "event id, customer+time, kind+time (before migration 15)"
  load LONGBLOB "$uq$kt" blob "$conns" "event id, customer+time, kind+time (now)"
  load LONGBLOB "$uq" blob "$conns" "event id, customer+time"
  load LONGBLOB "" blob "$conns" "none"
done
