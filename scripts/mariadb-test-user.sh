#!/usr/bin/env bash
# Prepare the local MariaDB for Caravan's MySQL integration tests (idempotent).
#
# - starts MariaDB if it does not answer (root over the unix socket, no password),
# - waits until it answers,
# - creates the `caravan`/`caravan` test user for localhost and 127.0.0.1
#   (sqlx cannot log in as socket-authenticated root over TCP),
# - prints the URL to export as CARAVAN_TEST_MYSQL_URL.
#
# Usage: eval "$(scripts/mariadb-test-user.sh --export)"   or just run it.
set -euo pipefail

MARIADB_BIN=${MARIADB_BIN:-/usr/sbin/mariadbd}
CLIENT=${MARIADB_CLIENT:-mariadb}
WAIT_SECONDS=${WAIT_SECONDS:-60}
URL="mysql://caravan:caravan@127.0.0.1:3306/test"

answering() { "$CLIENT" -uroot -e 'SELECT 1' >/dev/null 2>&1; }

if ! answering; then
    echo "MariaDB is not answering; starting $MARIADB_BIN" >&2
    # The socket directory is tmpfs on some systems and may be missing after a reboot.
    install -d -o mysql -g mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec "$MARIADB_BIN"
    for _ in $(seq 1 "$WAIT_SECONDS"); do
        answering && break
        sleep 1
    done
    if ! answering; then
        echo "MariaDB did not answer within ${WAIT_SECONDS}s" >&2
        exit 1
    fi
fi

"$CLIENT" -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'caravan'@'localhost' IDENTIFIED BY 'caravan';
CREATE USER IF NOT EXISTS 'caravan'@'127.0.0.1' IDENTIFIED BY 'caravan';
GRANT ALL PRIVILEGES ON *.* TO 'caravan'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO 'caravan'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL

if [ "${1:-}" = "--export" ]; then
    echo "export CARAVAN_TEST_MYSQL_URL=$URL"
else
    echo "$URL"
fi
