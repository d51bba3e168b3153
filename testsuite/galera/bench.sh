#!/usr/bin/env bash
# What a Galera cluster costs the write path: the same load on two orders-api
# replicas writing through one standalone server, through one node of the
# cluster, and through two nodes (one replica each). Prints one line per
# measurement, loadgen's JSON. BENCHMARKS.md has the figures.
#
#   testsuite/galera/cluster.sh start && testsuite/galera/bench.sh DIR
#
# DIR holds customers-api, orders-api and loadgen binaries (go build -o DIR/
# ./apps/customers-api ./apps/orders-api ./apps/loadgen). The standalone server
# is $BENCH_MYSQL (default orders_test:orders_test@127.0.0.1:3306), which also
# serves customers-api throughout; the cluster's nodes are 127.0.0.1:3311 and
# 3312, as root. Every database it makes is dropped.
set -euo pipefail
[ $# -eq 1 ] || { sed -n '2,13p' "$0"; exit 2; }
dir=$1

DURATION=${DURATION:-15}
MODES=${MODES:-random hot}
standalone=${BENCH_MYSQL:-orders_test:orders_test@127.0.0.1:3306}
export JWT_SECRET=bench-jwt-secret-0123456789abcdef SERVICE_TOKEN=bench-service-token-0123456789

# sql USER[:PASS]@HOST:PORT STATEMENTS
sql() {
  local cred=${1%@*} addr=${1#*@} pass=()
  [ "${cred#*:}" != "$cred" ] && pass=(-p"${cred#*:}")
  mariadb --no-defaults --protocol=tcp -h"${addr%:*}" -P"${addr#*:}" -u"${cred%%:*}" "${pass[@]}" -e "$2"
}

pids=()
stop() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=(); }
trap stop EXIT

wait_up() {
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return; sleep 0.1; done
  echo "nothing answers on port $1" >&2; exit 1
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for setup in "standalone $standalone $standalone" "galera-1-node root@127.0.0.1:3311 root@127.0.0.1:3311" \
  "galera-2-nodes root@127.0.0.1:3311 root@127.0.0.1:3312"; do
  read -r name a b <<<"$setup"
  sql "$standalone" 'DROP DATABASE IF EXISTS bench_customers; CREATE DATABASE bench_customers'
  sql "$a" 'DROP DATABASE IF EXISTS bench_orders; CREATE DATABASE bench_orders'
  PORT=3101 DATABASE_URL="mysql://$standalone/bench_customers" "$dir/customers-api" 2>/dev/null & pids+=($!)
  PORT=3102 DATABASE_URL="mysql://$a/bench_orders" CUSTOMERS_API_URL=http://127.0.0.1:3101 \
    "$dir/orders-api" 2>/dev/null & pids+=($!)
  wait_up 3101; wait_up 3102
  PORT=3103 DATABASE_URL="mysql://$b/bench_orders" CUSTOMERS_API_URL=http://127.0.0.1:3101 \
    "$dir/orders-api" 2>/dev/null & pids+=($!)
  wait_up 3103
  for mode in $MODES; do
    echo "$name $mode $("$dir/loadgen" -token "$SERVICE_TOKEN" -mode "$mode" -concurrency 32 -duration "${DURATION}s" \
      -customers-url http://127.0.0.1:3101 -orders-url http://127.0.0.1:3102,http://127.0.0.1:3103 -json)"
  done
  stop
  sql "$a" 'DROP DATABASE bench_orders'
  sql "$standalone" 'DROP DATABASE bench_customers'
done
