package migrate

import (
	"database/sql"
	"testing"

	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/migrations"
	"github.com/b2borders/platform/testsuite/dbtest"
)

// TestTwoVersionRowsKeepTheNewest starts a service on a database whose
// schema_migrations holds two rows, the newest version and an older one, as
// replicas writing it at once through different nodes of a Galera cluster
// can leave it: the start succeeds and leaves the newest row alone.
func TestTwoVersionRowsKeepTheNewest(t *testing.T) {
	dsn := dbtest.NewDatabase(t)
	open := func() {
		t.Helper()
		db, err := mysql.Open(t.Context(), mysql.Config{DSN: dsn, Schema: migrations.Orders})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		db.Close()
	}
	open()
	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var newest int
	if err := raw.QueryRowContext(t.Context(), "SELECT version FROM schema_migrations").Scan(&newest); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(t.Context(), "INSERT INTO schema_migrations (version, dirty) VALUES (?, 0)", newest-1); err != nil {
		t.Fatal(err)
	}
	open()
	var rows, version, dirty int
	if err := raw.QueryRowContext(t.Context(), "SELECT COUNT(*), MAX(version), MAX(dirty) FROM schema_migrations").Scan(&rows, &version, &dirty); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || version != newest || dirty != 0 {
		t.Fatalf("schema_migrations: %d rows, version %d, dirty %d; want one row, version %d clean", rows, version, dirty, newest)
	}
}
