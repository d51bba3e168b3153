// Package galera gives tests the 3-node MariaDB Galera cluster that
// cluster.sh runs on this machine: each node's DSN, databases created
// through one node and seen by all, and a node killed (SIGKILL) and
// restarted. The tests of this directory need the cluster up and the
// build tag galera; `make test-galera` does both.
package galera

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Nodes is how many nodes cluster.sh runs.
const Nodes = 3

// Cluster is the running cluster. Node numbers are 1 to Nodes.
type Cluster struct {
	base   int // node n's SQL port is base+n
	script string
}

// Open returns the cluster, failing t unless every node is a synced member
// of a primary component of Nodes nodes. GALERA_BASE_PORT moves the ports
// as it does for cluster.sh.
func Open(t testing.TB) *Cluster {
	t.Helper()
	base := 3310
	if v := os.Getenv("GALERA_BASE_PORT"); v != "" {
		var err error
		if base, err = strconv.Atoi(v); err != nil {
			t.Fatalf("GALERA_BASE_PORT: %v", err)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	c := &Cluster{base: base, script: filepath.Join(filepath.Dir(file), "cluster.sh")}
	if err := c.waitWhole(WholeWait); err != nil {
		t.Fatalf("galera: %v; start the cluster with %s start", err, c.script)
	}
	return c
}

// WholeWait bounds the waits for the cluster to be whole again: a node
// that rejoins takes a state transfer, and the machine may be busy.
const WholeWait = 2 * time.Minute

// waitWhole waits until every node is a synced member of one primary
// component of Nodes nodes, and still is a second later: a node let back
// into the cluster can make the others form their component again.
func (c *Cluster) waitWhole(d time.Duration) error {
	deadline := time.Now().Add(d)
	var stableSince time.Time
	for {
		whole := true
		for n := 1; n <= Nodes && whole; n++ {
			st, err := c.Status(n, "wsrep_")
			whole = err == nil && st["wsrep_ready"] == "ON" && st["wsrep_local_state_comment"] == "Synced" &&
				st["wsrep_cluster_status"] == "Primary" && st["wsrep_cluster_size"] == strconv.Itoa(Nodes)
		}
		switch {
		case !whole:
			stableSince = time.Time{}
		case stableSince.IsZero():
			stableSince = time.Now()
		case time.Since(stableSince) >= time.Second:
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the %d nodes on 127.0.0.1:%d-%d are not all synced members of one cluster after %v: %s", Nodes, c.Port(1), c.Port(Nodes), d, c.describe())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// describe says what state each node is in, for a failure message.
func (c *Cluster) describe() string {
	var out []string
	for n := 1; n <= Nodes; n++ {
		st, err := c.Status(n, "wsrep_")
		if err != nil {
			out = append(out, fmt.Sprintf("node %d: %v", n, err))
			continue
		}
		out = append(out, fmt.Sprintf("node %d: %s, %s, ready %s, cluster size %s", n,
			st["wsrep_cluster_status"], st["wsrep_local_state_comment"], st["wsrep_ready"], st["wsrep_cluster_size"]))
	}
	return strings.Join(out, "; ")
}

// WaitWhole fails t unless every node is a synced member of the cluster
// within d, and stays so for a second.
func (c *Cluster) WaitWhole(t testing.TB, d time.Duration) {
	t.Helper()
	if err := c.waitWhole(d); err != nil {
		t.Fatalf("galera: %v", err)
	}
}

// Port is node n's SQL port on 127.0.0.1.
func (c *Cluster) Port(n int) int { return c.base + n }

// DSN is root's go-sql-driver DSN on node n, naming database db (may be
// empty).
func (c *Cluster) DSN(n int, db string) string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port(n)))
	cfg.DBName = db
	cfg.Timeout = 3 * time.Second
	return cfg.FormatDSN()
}

// NewDatabase creates an empty database through node 1 and waits until
// every node has it; it is dropped when t ends. It returns its name.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	var suffix [6]byte
	rand.Read(suffix[:])
	name := "galera_" + hex.EncodeToString(suffix[:])
	c.Exec(t, 1, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4")
	t.Cleanup(func() {
		for n := 1; n <= Nodes; n++ {
			if c.Synced(n) {
				c.Exec(t, n, "DROP DATABASE IF EXISTS `"+name+"`")
				return
			}
		}
	})
	for n := 2; n <= Nodes; n++ {
		var got string
		c.QueryRow(t, n, "", []any{&got}, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name)
	}
	return name
}

// Open opens a pool on node n's database db, closed when t ends. Its reads
// wait for the node to apply what the cluster committed before them.
func (c *Cluster) Open(t testing.TB, n int, db string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(c.DSN(n, db))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Params = map[string]string{"wsrep_sync_wait": "1"}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := sql.OpenDB(conn)
	t.Cleanup(func() { pool.Close() })
	return pool
}

// Exec runs statements on node n with no database selected, each within
// a minute.
func (c *Cluster) Exec(t testing.TB, n int, statements ...string) {
	t.Helper()
	db := c.Open(t, n, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range statements {
		// A node answers 1047 while its cluster forms its primary
		// component again; that passes.
		for {
			_, err := db.ExecContext(ctx, s)
			var me *mysql.MySQLError
			if errors.As(err, &me) && me.Number == 1047 && ctx.Err() == nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			if err != nil {
				t.Fatalf("galera: node %d: %s: %v", n, s, err)
			}
			break
		}
	}
}

// QueryRow scans one row of query on node n's database db into dest.
func (c *Cluster) QueryRow(t testing.TB, n int, db string, dest []any, query string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Open(t, n, db).QueryRowContext(ctx, query, args...).Scan(dest...); err != nil {
		t.Fatalf("galera: node %d: %s: %v", n, query, err)
	}
}

// Status returns node n's global status variables whose names start with
// prefix (for example "wsrep_local_"), by lower-case name.
func (c *Cluster) Status(n int, prefix string) (map[string]string, error) {
	db, err := sql.Open("mysql", c.DSN(n, ""))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "SHOW GLOBAL STATUS LIKE '"+strings.ReplaceAll(prefix, "'", "")+"%'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[strings.ToLower(k)] = v
	}
	return out, rows.Err()
}

// Counter sums a numeric global status variable over the nodes that answer.
func (c *Cluster) Counter(name string) int64 {
	var sum int64
	for n := 1; n <= Nodes; n++ {
		st, err := c.Status(n, name)
		if err != nil {
			continue
		}
		v, _ := strconv.ParseInt(st[name], 10, 64)
		sum += v
	}
	return sum
}

// Synced reports whether node n answers and is a synced member of a primary
// component.
func (c *Cluster) Synced(n int) bool {
	st, err := c.Status(n, "wsrep_")
	return err == nil && st["wsrep_ready"] == "ON" && st["wsrep_local_state_comment"] == "Synced" &&
		st["wsrep_cluster_status"] == "Primary"
}

// Kill sends SIGKILL to node n, as a crash would, and waits until it is
// gone. The test restarts it: a node left down fails the tests after.
func (c *Cluster) Kill(t testing.TB, n int) {
	t.Helper()
	c.run(t, "kill", n)
}

// Restart starts node n again and waits until it has rejoined the cluster
// (by incremental or full state transfer) and is synced.
func (c *Cluster) Restart(t testing.TB, n int) {
	t.Helper()
	c.run(t, "restart", n)
}

func (c *Cluster) run(t testing.TB, cmd string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.script, cmd, strconv.Itoa(n)).CombinedOutput()
	if err != nil {
		t.Fatalf("galera: %s %s %d: %v\n%s", c.script, cmd, n, err, out)
	}
}
