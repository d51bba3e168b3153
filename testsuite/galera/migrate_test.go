//go:build galera

package galera_test

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/migrations"
	"github.com/b2borders/platform/testsuite/galera"
)

// TestReplicasMigrateTogetherOnSeveralNodes opens one fresh database from
// six replicas at once, two on each node, ten times over: a node's lock
// does not keep the other nodes' replicas out, and every replica must
// still start, with the schema whole and its newest version recorded clean
// on every node.
func TestReplicasMigrateTogetherOnSeveralNodes(t *testing.T) {
	c := galera.Open(t)
	newest := newestVersion(t)
	for trial := range 10 {
		db := c.NewDatabase(t)
		var wg sync.WaitGroup
		errs := make([]error, 2*galera.Nodes)
		start := make(chan struct{})
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				pool, err := mysql.Open(ctx, mysql.Config{DSN: c.DSN(1+i%galera.Nodes, db), Schema: migrations.Orders, MaxOpenConns: 2})
				if err == nil {
					pool.Close()
				}
				errs[i] = err
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("trial %d: replica %d on node %d did not start: %v", trial, i, 1+i%galera.Nodes, err)
			}
		}
		for n := 1; n <= galera.Nodes; n++ {
			var version, dirty, tables int
			c.QueryRow(t, n, db, []any{&version, &dirty}, "SELECT version, dirty FROM schema_migrations")
			c.QueryRow(t, n, db, []any{&tables}, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ('products', 'orders', 'order_items', 'idempotency_keys')", db)
			if version != newest || dirty != 0 || tables != 4 {
				var rows string
				c.QueryRow(t, n, db, []any{&rows}, "SELECT COALESCE(GROUP_CONCAT(CONCAT(version, IF(dirty, ' dirty', '')) ORDER BY version SEPARATOR ', '), 'none') FROM schema_migrations")
				t.Errorf("trial %d: node %d: schema version %d dirty %d (version rows: %s), %d of 4 tables; want version %d clean", trial, n, version, dirty, rows, tables, newest)
			}
		}
	}
}

// newestVersion is the version of the newest orders migration.
func newestVersion(t *testing.T) int {
	t.Helper()
	names, err := fs.Glob(migrations.Orders, "*.up.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("orders migrations: %v %v", names, err)
	}
	newest := 0
	for _, name := range names {
		v, err := strconv.Atoi(name[:strings.IndexByte(name, '_')])
		if err != nil {
			t.Fatalf("migration %s: %v", name, err)
		}
		newest = max(newest, v)
	}
	return newest
}
