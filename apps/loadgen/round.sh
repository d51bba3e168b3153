#!/usr/bin/env bash
# One benchmark round, as BENCHMARKS.md describes it: sysbench's ceilings on
# the local MariaDB, then each given build of the services on fresh
# databases under every loadgen mode. Prints one line per measurement.
#
#   apps/loadgen/round.sh NAME=DIR [NAME=DIR …]
#
# Each DIR holds customers-api, orders-api, orchestrator and loadgen binaries
# (go build -o DIR/ ./apps/customers-api ./apps/orders-api ./apps/orchestrator
# ./apps/loadgen). Needs sysbench and a MariaDB or MySQL at 127.0.0.1:3306 on
# which root may create databases; every database it makes is dropped.
set -euo pipefail
[ $# -gt 0 ] || { sed -n '2,10p' "$0"; exit 2; }
builds=("$@")

DURATION=${DURATION:-20}
MODES=${MODES:-random hot get-product orchestrated}
export JWT_SECRET=bench-jwt-secret-0123456789abcdef SERVICE_TOKEN=bench-service-token-0123456789
mysql=(mysql --protocol=tcp -h127.0.0.1 -uroot)

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

"${mysql[@]}" -e 'DROP DATABASE IF EXISTS sbtest_bench; CREATE DATABASE sbtest_bench'
SB=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-port=3306 --mysql-user=root
    --mysql-db=sbtest_bench --tables=4 --table-size=50000 --time="$DURATION")
sysbench oltp_write_only "${SB[@]}" prepare >/dev/null
for run in "oltp_write_only 32" "oltp_write_only 1" "oltp_point_select 32"; do
  set -- $run
  tps=$(sysbench "$1" "${SB[@]}" --threads="$2" run | awk '/transactions:/ {gsub(/\(/, "", $3); print $3}')
  echo "sysbench $1 threads=$2 tps=$tps"
done
"${mysql[@]}" -e 'DROP DATABASE sbtest_bench'

pids=()
stop() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=(); }
trap stop EXIT

wait_up() {
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return; sleep 0.1; done
  echo "nothing answers on port $1" >&2; exit 1
}

for build in "${builds[@]}"; do
  name=${build%%=*} dir=${build#*=}
  "${mysql[@]}" -e 'DROP DATABASE IF EXISTS bench_customers; DROP DATABASE IF EXISTS bench_orders;
    CREATE DATABASE bench_customers; CREATE DATABASE bench_orders'
  PORT=3001 DATABASE_URL=mysql://root@127.0.0.1:3306/bench_customers "$dir/customers-api" 2>/dev/null & pids+=($!)
  PORT=3002 DATABASE_URL=mysql://root@127.0.0.1:3306/bench_orders CUSTOMERS_API_URL=http://127.0.0.1:3001 \
    "$dir/orders-api" 2>/dev/null & pids+=($!)
  PORT=3000 CUSTOMERS_API_URL=http://127.0.0.1:3001 ORDERS_API_URL=http://127.0.0.1:3002 \
    "$dir/orchestrator" 2>/dev/null & pids+=($!)
  wait_up 3001; wait_up 3002; wait_up 3000
  for mode in $MODES; do
    echo "$name $mode $("$dir/loadgen" -token "$SERVICE_TOKEN" -mode "$mode" -concurrency 32 -duration "${DURATION}s" -json)"
  done
  stop
  "${mysql[@]}" -e 'DROP DATABASE bench_customers; DROP DATABASE bench_orders'
done
