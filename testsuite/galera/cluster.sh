#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster on this machine, for `make test-galera`.
#
#   testsuite/galera/cluster.sh start        # fresh cluster; waits until 3 nodes are Synced
#   testsuite/galera/cluster.sh status       # each node's size, state and readiness
#   testsuite/galera/cluster.sh stop         # stops the nodes this script started (stale ones too)
#   testsuite/galera/cluster.sh kill N       # SIGKILL node N (1-3), as a crash would
#   testsuite/galera/cluster.sh restart N    # start node N again; waits until it is Synced
#   testsuite/galera/cluster.sh run CMD...   # fresh start, run CMD, stop; one run at a time per machine
#
# Node N listens for SQL on 127.0.0.1:$((3310+N)) (GALERA_BASE_PORT+N), for group
# communication on 4557+10N (4567, 4577, 4587) with IST on the port after it, and
# receives state transfers (rsync SST) on 4434+10N (4444, 4454, 4464). root has
# an empty password over TCP. Everything lives in $GALERA_DIR (default
# /var/tmp/orders-galera): one datadir, config, socket, pid file and error log per
# node; no other server's files are read or written, and no my.cnf is read.
# Node 1 bootstraps the cluster (--wsrep-new-cluster); nodes 2 and 3 join it and
# receive their data by rsync. `start` wipes the datadirs: each run is a fresh
# cluster. The nodes are small: 32 MiB buffer pool, 32 MiB gcache.
# A node killed is evicted after about 10 s (see config).
set -euo pipefail

dir=${GALERA_DIR:-/var/tmp/orders-galera}
base=${GALERA_BASE_PORT:-3310}
provider=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
nodes=(1 2 3)

sql_port() { echo $((base + $1)); }
gcomm_port() { echo $((4557 + 10 * $1)); }
sst_port() { echo $((4434 + 10 * $1)); }
ndir() { echo "$dir/node$1"; }
pidfile() { echo "$(ndir "$1")/node.pid"; } # ours; mariadbd writes mysqld.pid

mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
run_as=mysql
id mysql >/dev/null 2>&1 || run_as=root

# sql N ARGS... runs the client against node N over TCP as root.
sql() {
  local n=$1
  shift
  mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$(sql_port "$n")" -uroot \
    --connect-timeout=2 -N -B "$@"
}

# pid N prints node N's pid if that process is this cluster's mariadbd.
pid() {
  local f p
  f=$(pidfile "$1")
  [ -s "$f" ] || return 1
  p=$(cat "$f")
  [ -r "/proc/$p/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "--defaults-file=$(ndir "$1")/my.cnf" || return 1
  echo "$p"
}

install_missing() {
  local missing=()
  [ -x "$mariadbd" ] || missing+=(mariadb-server)
  command -v mariadb >/dev/null || missing+=(mariadb-client)
  [ -e "$provider" ] || missing+=(galera-4)
  command -v rsync >/dev/null || missing+=(rsync)
  command -v ss >/dev/null || command -v lsof >/dev/null || missing+=(iproute2)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
  fi
}

# config N writes node N's my.cnf. The rsync SST script reads it too.
# A node that has not been heard from for 10 s is suspected and then
# evicted (evs.suspect_timeout; Galera's default is 5 s): on a busy 2-core
# machine, shorter let the cluster evict a live but descheduled node and
# drop to a non-primary component in the middle of the tests.

config() {
  local n=$1 d user=()
  d=$(ndir "$n")
  mkdir -p "$d/data"
  # As root, a node runs as mysql, as a packaged server does: the rsync
  # daemon that receives a state transfer runs as the node's user, and as
  # root it would drop to nobody and could not write the datadir.
  if [ "$(id -u)" = 0 ]; then
    user=("user=$run_as")
    chown -R "$run_as:" "$d"
  fi
  cat >"$d/my.cnf" <<EOF
[mysqld]
${user[*]}
datadir=$d/data
bind-address=127.0.0.1
port=$(sql_port "$n")
socket=$d/mysqld.sock
pid-file=$d/mysqld.pid
log-error=$d/error.log
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
innodb-buffer-pool-size=32M
innodb-log-file-size=16M
innodb-log-buffer-size=2M
innodb-flush-log-at-trx-commit=2
key-buffer-size=1M
aria-pagecache-buffer-size=1M
query-cache-size=0
performance-schema=OFF
max-connections=300
binlog-format=ROW
default-storage-engine=InnoDB
innodb-autoinc-lock-mode=2
wsrep-on=ON
wsrep-provider=$provider
wsrep-cluster-name=orders-galera
wsrep-cluster-address=gcomm://127.0.0.1:$(gcomm_port 1),127.0.0.1:$(gcomm_port 2),127.0.0.1:$(gcomm_port 3)
wsrep-node-name=node$n
wsrep-node-address=127.0.0.1:$(gcomm_port "$n")
wsrep-node-incoming-address=127.0.0.1:$(sql_port "$n")
wsrep-sst-receive-address=127.0.0.1:$(sst_port "$n")
wsrep-sst-method=rsync
wsrep-slave-threads=2
wsrep-provider-options=base_port=$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$(($(gcomm_port "$n") + 1));gcache.size=32M;evs.suspect_timeout=PT10S;evs.inactive_timeout=PT30S;evs.install_timeout=PT15S
EOF
}

# launch N [flags] starts node N's mariadbd in the background.
launch() {
  local n=$1
  shift
  "$mariadbd" --defaults-file="$(ndir "$n")/my.cnf" "$@" </dev/null >>"$(ndir "$n")/error.log" 2>&1 &
  # Recorded now, not read from mariadbd's own pid file later, so that a
  # start that fails early is seen as such.
  echo $! >"$(pidfile "$n")"
  disown || true
}

# synced N succeeds when node N answers and is a Synced member of a primary
# component.
synced() {
  local out
  out=$(sql "$1" -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('wsrep_local_state_comment','wsrep_ready','wsrep_cluster_status') ORDER BY VARIABLE_NAME" 2>/dev/null | tr '\n' ' ') || return 1
  [ "$out" = "Primary Synced ON " ]
}

# wait_synced N SECONDS
wait_synced() {
  local n=$1 i
  for i in $(seq $(($2 * 5))); do
    synced "$n" && return 0
    pid "$n" >/dev/null || { tail -n 40 "$(ndir "$n")/error.log" >&2; echo "$0: node $n exited" >&2; return 1; }
    sleep 0.2
  done
  tail -n 40 "$(ndir "$n")/error.log" >&2
  echo "$0: node $n not Synced after $2 s" >&2
  return 1
}

cluster_size() { sql "$1" -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='wsrep_cluster_size'" 2>/dev/null; }

# leftovers N prints the pids of every mariadbd running node N's config,
# whatever its pid file says (one a run that was killed left behind, or one
# whose datadir a later start removed), and of the rsync daemon of a state
# transfer to or from it that outlived the node.
leftovers() {
  local f p args
  for f in /proc/[0-9]*/cmdline; do
    p=${f#/proc/}
    p=${p%/cmdline}
    args=$(tr '\0' '\n' 2>/dev/null <"$f") || continue
    case "$(basename -- "$(head -n1 <<<"$args")")" in
    mariadbd | mysqld | rsync) ;;
    *) continue ;;
    esac
    grep -qF -- "$(ndir "$1")/" <<<"$args" && echo "$p"
  done
  return 0
}

# alive PID... succeeds while any of the processes runs.
alive() {
  local p
  for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done
  return 1
}

stop_node() {
  local n=$1 i ps
  ps=$(
    pid "$n" || true
    leftovers "$n"
  )
  read -r -a ps <<<"$(sort -u <<<"$ps" | tr '\n' ' ')"
  [ ${#ps[@]} -gt 0 ] || return 0
  kill -TERM "${ps[@]}" 2>/dev/null || true
  for i in $(seq 300); do
    alive "${ps[@]}" || return 0
    sleep 0.1
  done
  echo "node $n (pid ${ps[*]}) did not stop in 30 s; killing it" >&2
  kill -KILL "${ps[@]}" 2>/dev/null || true
  for i in $(seq 100); do
    alive "${ps[@]}" || return 0
    sleep 0.1
  done
}

# port_free PORT
port_free() { ! (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ports_free waits (up to 20 s) until no process listens on a port of
# the cluster, and fails naming the ones that still do.
wait_ports_free() {
  local n p i busy
  for i in $(seq 100); do
    busy=()
    for n in "${nodes[@]}"; do
      for p in "$(sql_port "$n")" "$(gcomm_port "$n")" "$(($(gcomm_port "$n") + 1))" "$(sst_port "$n")"; do
        port_free "$p" || busy+=("$p")
      done
    done
    [ ${#busy[@]} -gt 0 ] || return 0
    sleep 0.2
  done
  echo "$0: ports ${busy[*]} are taken by other processes (this cluster's nodes use 127.0.0.1:$(sql_port 1)-$(sql_port 3), 4444-4464, 4567-4588):" >&2
  if command -v ss >/dev/null; then
    for p in "${busy[@]}"; do ss -Htlnp "sport = :$p" >&2 || true; done
  fi
  echo "stop them, or move the SQL ports with GALERA_BASE_PORT" >&2
  exit 1
}

# fresh stops whatever this cluster left running and wipes its files.
fresh() {
  stop
  wait_ports_free
  rm -rf "$dir"
  mkdir -p "$dir"
}

start() {
  install_missing
  local up=0 n
  for n in "${nodes[@]}"; do pid "$n" >/dev/null && up=$((up + 1)); done
  if [ "$up" = 3 ] && synced 1 && synced 2 && synced 3 && [ "$(cluster_size 1)" = 3 ]; then
    echo "already running"
    status
    return 0
  fi
  fresh
  for n in "${nodes[@]}"; do config "$n"; done

  local user=()
  [ "$(id -u)" = 0 ] && user=(--user="$run_as")
  mariadb-install-db --no-defaults --datadir="$(ndir 1)/data" "${user[@]}" \
    --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
    --innodb-log-file-size=16M >"$dir/install.log" 2>&1 ||
    { cat "$dir/install.log" >&2; echo "$0: mariadb-install-db failed" >&2; exit 1; }

  launch 1 --wsrep-new-cluster
  wait_synced 1 60
  # root over TCP from 127.0.0.1 with no password, on every node (replicated).
  # The tests' user of the shared server, orders_test, on every node too.
  sql 1 -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
    CREATE USER IF NOT EXISTS 'orders_test'@'127.0.0.1' IDENTIFIED BY 'orders_test'; GRANT ALL PRIVILEGES ON *.* TO 'orders_test'@'127.0.0.1';"
  # Joiners one at a time: each takes a full rsync SST from a donor.
  for n in 2 3; do
    launch "$n"
    wait_synced "$n" 120
  done
  for i in $(seq 50); do [ "$(cluster_size 1)" = 3 ] && break; sleep 0.2; done
  [ "$(cluster_size 1)" = 3 ] || { echo "$0: cluster size is not 3" >&2; status; exit 1; }
  status
}

stop() {
  local n
  for n in 3 2 1; do stop_node "$n"; done
}

status() {
  local n
  for n in "${nodes[@]}"; do
    if p=$(pid "$n"); then
      printf 'node%s 127.0.0.1:%s pid %s: ' "$n" "$(sql_port "$n")" "$p"
      sql "$n" -e "SELECT GROUP_CONCAT(CONCAT(VARIABLE_NAME,'=',VARIABLE_VALUE) ORDER BY VARIABLE_NAME SEPARATOR ' ') FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('wsrep_cluster_size','wsrep_local_state_comment','wsrep_ready','wsrep_cluster_status')" 2>/dev/null ||
        echo "not answering"
    else
      printf 'node%s 127.0.0.1:%s: down\n' "$n" "$(sql_port "$n")"
    fi
  done
}

node_arg() {
  case "${1:-}" in 1 | 2 | 3) ;; *) echo "usage: $0 kill|restart 1|2|3" >&2; exit 2 ;; esac
}

case "${1:-}" in
run)
  # Runs on one machine take turns (a lock beside $dir): one run's stop
  # would otherwise end another's cluster under its tests.
  shift
  [ $# -gt 0 ] || { echo "usage: $0 run CMD..." >&2; exit 2; }
  command -v flock >/dev/null || { echo "$0: flock not found: install util-linux" >&2; exit 1; }
  mkdir -p "$(dirname "$dir")"
  exec 9>"$dir.lock"
  if ! flock -n 9; then
    echo "waiting for another run of $0 on this machine (lock $dir.lock)" >&2
    flock 9
  fi
  trap stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # A fresh cluster, whatever an earlier run or a manual start left.
  fresh
  start
  "$@"
  ;;
start) start ;;
stop) stop ;;
status) status ;;
kill)
  node_arg "${2:-}"
  p=$(pid "$2") || { echo "$0: node $2 is not running" >&2; exit 1; }
  kill -KILL "$p"
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  ;;
restart)
  node_arg "${2:-}"
  if ! pid "$2" >/dev/null; then launch "$2"; fi
  wait_synced "$2" 180
  ;;
*)
  echo "usage: $0 start|stop|status|kill N|restart N|run CMD..." >&2
  exit 2
  ;;
esac
