#!/usr/bin/env bash
# The 30-minute soak of issue 20: scripts/bench-mixed.sh for 30 minutes (DURATION overrides),
# sampling the server's RSS and each RPC's p99 every 10 s into target/soak.csv, and checking
# that the RSS stays within 10% after the warm-up (the first 3 minutes). Release build;
# loopback only. Further flags go to caravan-bench-mixed (e.g. --rate N for open loop).
#   scripts/soak.sh [--rate N] [--ingest-rate N] [--server-binary NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
DURATION=${DURATION:-30m} exec scripts/bench-mixed.sh --csv target/soak.csv "$@"
