package dbtest

import (
	"context"
	"database/sql"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// EnvNodes names the variable that lists, comma-separated, the addresses
// (host:port) of the other nodes of a multi-primary cluster whose first
// node TEST_MYSQL_DSN names, for example "127.0.0.1:3312,127.0.0.1:3313"
// on the Galera cluster of make test-galera. ReplicaDSN spreads a test's
// replicas over them.
const EnvNodes = "TEST_MYSQL_NODES"

// nodeWait bounds how long ReplicaDSN waits for a node to have a database
// created through another: a busy cluster applies it a moment later.
const nodeWait = time.Minute

// ReplicaDSN returns the DSN of the i-th replica (from 0) of a test that
// runs several on the database of dsn, a DSN NewDatabase returned. Without
// TEST_MYSQL_NODES it is dsn itself: the replicas share one server. With
// it, the replicas take turns over dsn's server and the listed nodes, in
// that order (replica 1 on the first listed node), so that they write
// through different nodes of the cluster; it returns once the node has
// the database.
func ReplicaDSN(t testing.TB, dsn string, i int) string {
	t.Helper()
	nodes := Nodes()
	k := i % (len(nodes) + 1)
	if k == 0 {
		return dsn
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = nodes[k-1]
	probe := cfg.Clone()
	probe.DBName = ""
	probe.Timeout = 5 * time.Second
	db, err := sql.Open("mysql", probe.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), nodeWait)
	defer cancel()
	for {
		var n int
		err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", cfg.DBName).Scan(&n)
		if err == nil && n == 1 {
			return cfg.FormatDSN()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dbtest: node %s (%s) does not have database %s after %v: %v", cfg.Addr, EnvNodes, cfg.DBName, nodeWait, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Nodes returns the addresses TEST_MYSQL_NODES lists, or none.
func Nodes() []string {
	var out []string
	for _, a := range strings.Split(os.Getenv(EnvNodes), ",") {
		if a = strings.TrimSpace(a); a != "" {
			if _, _, err := net.SplitHostPort(a); err != nil {
				a = net.JoinHostPort(a, "3306")
			}
			out = append(out, a)
		}
	}
	return out
}
