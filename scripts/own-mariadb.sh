#!/usr/bin/env bash
# A private MariaDB instance: its own data directory, port and socket, so that a test can
# kill -9 it and start it again on the same data without touching the shared server on
# 3306. The fault drill (`caravan-fault-drill`, `scripts/fault-drill.sh`) drives it through
# `init`, `run` and `user`; `start` and `stop` are for trying it by hand.
#
#   scripts/own-mariadb.sh check                 exit 0 if mariadbd, mariadb-install-db, mariadb exist
#   scripts/own-mariadb.sh version               print mariadbd's version
#   scripts/own-mariadb.sh init  DIR             create DIR/data (mariadb-install-db; idempotent)
#   scripts/own-mariadb.sh run   DIR PORT        exec mariadbd in the foreground (pid = mariadbd)
#   scripts/own-mariadb.sh user  DIR PORT        wait until it answers, create caravan/caravan,
#                                                print the server URL
#   scripts/own-mariadb.sh start DIR [PORT]      init, run in the background, user (PORT 3407)
#   scripts/own-mariadb.sh stop  DIR             SIGTERM it (by its pid file) and wait
#
# Nothing is read from /etc/mysql (--no-defaults). Root logs in over the socket without a
# password (--auth-root-authentication-method=normal); the services use the `caravan`
# user over TCP on 127.0.0.1:PORT. Durability is MariaDB's default
# (innodb_flush_log_at_trx_commit=1), which is what a crash test must keep. Works as any
# user: as root mariadbd needs --user=root, otherwise it runs as the caller.
set -euo pipefail

find_tool() {
    local name=$1
    command -v "$name" 2>/dev/null && return 0
    for dir in /usr/sbin /usr/local/sbin /usr/bin /usr/local/bin; do
        [ -x "$dir/$name" ] && { echo "$dir/$name"; return 0; }
    done
    return 1
}

MARIADBD=${MARIADBD:-$(find_tool mariadbd || true)}
INSTALL_DB=${MARIADB_INSTALL_DB:-$(find_tool mariadb-install-db || true)}
CLIENT=${MARIADB_CLIENT:-$(find_tool mariadb || true)}
WAIT_SECONDS=${WAIT_SECONDS:-120}

# As root, mariadbd and mariadb-install-db must be told to stay root.
user_opt=()
[ "$(id -u)" = 0 ] && user_opt=(--user=root)

usage() {
    sed -n '2,20p' "$0" >&2
    exit 2
}

check() {
    local missing=()
    [ -n "$MARIADBD" ] && [ -x "$MARIADBD" ] || missing+=(mariadbd)
    [ -n "$INSTALL_DB" ] && [ -x "$INSTALL_DB" ] || missing+=(mariadb-install-db)
    [ -n "$CLIENT" ] && [ -x "$CLIENT" ] || missing+=(mariadb)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "not found: ${missing[*]} (install mariadb-server and mariadb-client)" >&2
        return 3
    fi
}

init() {
    local dir=$1
    check
    if [ -d "$dir/data/mysql" ]; then
        return 0
    fi
    mkdir -p "$dir"
    if ! "$INSTALL_DB" --no-defaults "${user_opt[@]}" --datadir="$dir/data" \
        --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1; then
        cat "$dir/install.log" >&2
        exit 1
    fi
}

run() {
    local dir=$1 port=$2
    check
    exec "$MARIADBD" --no-defaults "${user_opt[@]}" \
        --datadir="$dir/data" \
        --port="$port" --bind-address=127.0.0.1 \
        --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
        --log-error="$dir/error.log" \
        --skip-name-resolve --skip-log-bin \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        --max-connections=500
}

answering() {
    "$CLIENT" --no-defaults --socket="$1/mysqld.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1
}

user() {
    local dir=$1 port=$2
    check
    for _ in $(seq 1 $((WAIT_SECONDS * 10))); do
        answering "$dir" && break
        sleep 0.1
    done
    if ! answering "$dir"; then
        echo "MariaDB in $dir did not answer within ${WAIT_SECONDS}s; its log:" >&2
        tail -n 30 "$dir/error.log" >&2 || true
        exit 1
    fi
    "$CLIENT" --no-defaults --socket="$dir/mysqld.sock" -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'caravan'@'localhost' IDENTIFIED BY 'caravan';
CREATE USER IF NOT EXISTS 'caravan'@'127.0.0.1' IDENTIFIED BY 'caravan';
GRANT ALL PRIVILEGES ON *.* TO 'caravan'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO 'caravan'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
    echo "mysql://caravan:caravan@127.0.0.1:$port/test"
}

start() {
    local dir=$1 port=${2:-3407}
    init "$dir"
    "$0" run "$dir" "$port" </dev/null >/dev/null 2>&1 &
    user "$dir" "$port"
}

stop() {
    local dir=$1 pid
    [ -f "$dir/mysqld.pid" ] || { echo "no $dir/mysqld.pid" >&2; return 0; }
    pid=$(cat "$dir/mysqld.pid")
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 $((WAIT_SECONDS * 10))); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "mariadbd $pid still runs after ${WAIT_SECONDS}s" >&2
    exit 1
}

command=${1:-}
case "$command" in
    check) check ;;
    version) check && "$MARIADBD" --version ;;
    init) [ $# -eq 2 ] || usage; init "$2" ;;
    run) [ $# -eq 3 ] || usage; run "$2" "$3" ;;
    user) [ $# -eq 3 ] || usage; user "$2" "$3" ;;
    start) [ $# -ge 2 ] || usage; start "$2" "${3:-3407}" ;;
    stop) [ $# -eq 2 ] || usage; stop "$2" ;;
    *) usage ;;
esac
