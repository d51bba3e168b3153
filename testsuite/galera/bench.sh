#!/usr/bin/env bash
# What a Galera cluster costs: the same load on two orders-api replicas
# writing through one standalone server, through one node of the cluster,
# and through two nodes (one replica each); and what wsrep_sync_wait=1 (the
# services' default) costs, against the same setups with it off. Prints one
# line per measurement, loadgen's JSON. BENCHMARKS.md has the figures.
#
#   flock /tmp/orders-bench.lock testsuite/galera/cluster.sh run testsuite/galera/bench.sh DIR
#
# DIR holds customers-api, orders-api and loadgen binaries (go build -o DIR/
# ./apps/customers-api ./apps/orders-api ./apps/loadgen). The standalone server
# is $BENCH_MYSQL (default orders_test:orders_test@127.0.0.1:3306), which also
# serves customers-api throughout; the cluster's nodes are 127.0.0.1:3311 and
# 3312, as root. MODES (default: random hot get-product) are loadgen's;
# get-product reads through the first replica only. SETUPS (default: all)
# names the setups: standalone galera-1-node galera-2-nodes
# galera-1-node-no-sync-wait galera-2-nodes-no-sync-wait; a setup named
# twice is measured twice. CONCURRENCY (default 32) is loadgen's. Every
# database it makes is dropped.
set -euo pipefail
[ $# -eq 1 ] || { sed -n '2,19p' "$0"; exit 2; }
dir=$1

DURATION=${DURATION:-15}
CONCURRENCY=${CONCURRENCY:-32}
MODES=${MODES:-random hot get-product}
SETUPS=${SETUPS:-standalone galera-1-node galera-2-nodes galera-1-node-no-sync-wait galera-2-nodes-no-sync-wait}
standalone=${BENCH_MYSQL:-orders_test:orders_test@127.0.0.1:3306}
export JWT_SECRET=bench-jwt-secret-0123456789abcdef SERVICE_TOKEN=bench-service-token-0123456789

# sql USER[:PASS]@HOST:PORT STATEMENTS
sql() {
  local cred=${1%@*} addr=${1#*@} pass=()
  [ "${cred#*:}" != "$cred" ] && pass=(-p"${cred#*:}")
  mariadb --no-defaults --protocol=tcp -h"${addr%:*}" -P"${addr#*:}" -u"${cred%%:*}" "${pass[@]}" -e "$2"
}

# causal_reads sums the reads the cluster's nodes 1 and 2 made wait for
# causality (wsrep_causal_reads), to show whether wsrep_sync_wait was on.
causal_reads() {
  local sum=0 v port
  for port in 3311 3312; do
    v=$(mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P$port -uroot -N -B \
      -e "SHOW GLOBAL STATUS LIKE 'wsrep_causal_reads'" | cut -f2)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

pids=()
stop() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=(); }
trap stop EXIT

wait_up() {
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return; sleep 0.1; done
  echo "nothing answers on port $1" >&2; exit 1
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# setup NAME prints the setup's two replicas' servers and their DSN
# parameters.
setup() {
  case $1 in
  standalone) echo "$standalone $standalone" ;;
  galera-1-node) echo "root@127.0.0.1:3311 root@127.0.0.1:3311" ;;
  galera-2-nodes) echo "root@127.0.0.1:3311 root@127.0.0.1:3312" ;;
  galera-1-node-no-sync-wait) echo "root@127.0.0.1:3311 root@127.0.0.1:3311 ?wsrep_sync_wait=0" ;;
  galera-2-nodes-no-sync-wait) echo "root@127.0.0.1:3311 root@127.0.0.1:3312 ?wsrep_sync_wait=0" ;;
  *) echo "unknown setup $1" >&2; exit 2 ;;
  esac
}

for name in $SETUPS; do
  params=
  read -r a b params <<<"$(setup "$name")"
  sql "$standalone" 'DROP DATABASE IF EXISTS bench_customers; CREATE DATABASE bench_customers'
  sql "$a" 'DROP DATABASE IF EXISTS bench_orders; CREATE DATABASE bench_orders'
  PORT=3101 DATABASE_URL="mysql://$standalone/bench_customers" "$dir/customers-api" 2>/dev/null & pids+=($!)
  PORT=3102 DATABASE_URL="mysql://$a/bench_orders$params" CUSTOMERS_API_URL=http://127.0.0.1:3101 \
    "$dir/orders-api" 2>/dev/null & pids+=($!)
  wait_up 3101; wait_up 3102
  PORT=3103 DATABASE_URL="mysql://$b/bench_orders$params" CUSTOMERS_API_URL=http://127.0.0.1:3101 \
    "$dir/orders-api" 2>/dev/null & pids+=($!)
  wait_up 3103
  for mode in $MODES; do
    before=$(causal_reads)
    out=$("$dir/loadgen" -token "$SERVICE_TOKEN" -mode "$mode" -concurrency "$CONCURRENCY" -duration "${DURATION}s" \
      -customers-url http://127.0.0.1:3101 -orders-url http://127.0.0.1:3102,http://127.0.0.1:3103 -json)
    echo "$name $mode $out causal_reads=$(($(causal_reads) - before))"
  done
  stop
  sql "$a" 'DROP DATABASE bench_orders'
  sql "$standalone" 'DROP DATABASE bench_customers'
done
