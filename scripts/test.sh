#!/usr/bin/env bash
# The whole test suite: what a newcomer runs and exactly what CI (.ci/run) runs.
# Installs what a fresh machine lacks (grpcurl, buf, Python validators), makes sure MariaDB
# is up with a test user, then: format, proto lint and breaking-change check, build, clippy,
# deploy and monitoring validation, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "tools"
scripts/install-tools.sh
export PATH="$PWD/.tools/bin:$PATH"

step "CDNOW sample (value-model reference data, from PyPI Lifetimes)"
scripts/fetch-cdnow.sh

step "MariaDB test user"
CARAVAN_TEST_MYSQL_URL="$(scripts/mariadb-test-user.sh)"
export CARAVAN_TEST_MYSQL_URL

step "cargo fmt --check"
cargo fmt --all --check

step "buf lint, buf breaking against the previous commit"
(cd proto && buf lint && buf build -o /dev/null)
scripts/check-breaking.sh

step "cargo build"
cargo build --workspace --bins --locked

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "deploy manifests"
scripts/validate-deploy.sh

step "monitoring: alert rules (promtool check + unit tests), PrometheusRule, dashboard"
scripts/check-monitoring.sh

step "cargo test"
cargo test --workspace --locked --no-fail-fast
