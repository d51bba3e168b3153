#!/usr/bin/env bash
# Start (or check) the MariaDB server `make test-snapshot` runs against: InnoDB
# snapshot isolation on, as it is by default from MariaDB 11.6, on
# 127.0.0.1:$SNAPSHOT_PORT (3307) with the tests' user orders_test/orders_test.
#
#   testsuite/mariadb-snapshot.sh && make test-snapshot
#
# Everything it has lives in $SNAPSHOT_DIR (/var/tmp/orders-mariadb-snapshot):
# datadir, socket, pid file, error log. No other server's files are read or
# written, and no my.cnf is read. Running it again while the server is up only
# checks it. Stop it with: kill "$(cat /var/tmp/orders-mariadb-snapshot/mysqld.pid)"
set -euo pipefail

port=${SNAPSHOT_PORT:-3307}
dir=${SNAPSHOT_DIR:-/var/tmp/orders-mariadb-snapshot}
sock=$dir/mysqld.sock
log=$dir/error.log
me=$(id -un)

mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
for tool in "$mariadbd" mariadb mariadb-install-db; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found: install mariadb-server and mariadb-client" >&2; exit 1; }
done

# The server's root account is the user running this script, over the socket.
admin() { mariadb --no-defaults --protocol=socket --socket="$sock" -u"$me" "$@"; }
up() { admin -e 'SELECT 1' >/dev/null 2>&1; }

if ! up; then
  # As root, the server runs as mysql, as a packaged one does.
  run_as=()
  install -d -m 0755 "$dir"
  if [ "$(id -u)" = 0 ]; then
    if id mysql >/dev/null 2>&1; then
      run_as=(--user=mysql)
      chown mysql:mysql "$dir"
    else
      run_as=(--user=root)
    fi
  fi
  if [ ! -d "$dir/data/mysql" ]; then
    echo "initialising $dir/data"
    rm -rf "$dir/data"
    mariadb-install-db --no-defaults --datadir="$dir/data" "${run_as[@]}" \
      --auth-root-authentication-method=socket --auth-root-socket-user="$me" \
      --skip-test-db >"$dir/install.log" 2>&1 ||
      { cat "$dir/install.log" >&2; echo "$0: mariadb-install-db failed" >&2; exit 1; }
  fi
  echo "starting mariadbd on 127.0.0.1:$port (log: $log)"
  "$mariadbd" --no-defaults --datadir="$dir/data" "${run_as[@]}" \
    --bind-address=127.0.0.1 --port="$port" --socket="$sock" \
    --pid-file="$dir/mysqld.pid" --log-error="$log" \
    --skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --innodb-snapshot-isolation=ON \
    </dev/null >>"$log" 2>&1 &
  pid=$!
  for _ in $(seq 120); do
    up && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  up || { tail -n 30 "$log" >&2; echo "$0: mariadbd did not start on 127.0.0.1:$port" >&2; exit 1; }
fi

admin <<'SQL'
CREATE USER IF NOT EXISTS 'orders_test'@'127.0.0.1' IDENTIFIED BY 'orders_test';
CREATE USER IF NOT EXISTS 'orders_test'@'localhost' IDENTIFIED BY 'orders_test';
GRANT ALL PRIVILEGES ON *.* TO 'orders_test'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'orders_test'@'localhost';
SQL

# Checked the way the tests connect: over TCP, as orders_test, a new session.
got=$(mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$port" -uorders_test -porders_test -N -B \
  -e 'SELECT @@innodb_snapshot_isolation, @@version') ||
  { echo "$0: cannot connect to 127.0.0.1:$port as orders_test" >&2; exit 1; }
read -r iso version <<<"$got"
if [ "$iso" != 1 ]; then
  echo "$0: the server on 127.0.0.1:$port ($version) has @@innodb_snapshot_isolation=$iso, not 1;" \
    "stop it and run this script again" >&2
  exit 1
fi
echo "127.0.0.1:$port: MariaDB $version, @@innodb_snapshot_isolation=1, user orders_test"
