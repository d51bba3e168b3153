package dbtest_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/b2borders/platform/testsuite/dbtest"
)

func TestServerKillRestartFreezeThaw(t *testing.T) {
	began := time.Now()
	s := dbtest.StartServer(t, "--innodb-lock-wait-timeout=2")
	t.Logf("StartServer: %s", time.Since(began).Round(time.Millisecond))

	dsn := s.NewDatabase(t)
	db := open(t, dsn)
	exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB")
	exec(t, db, "INSERT INTO t VALUES (1, 'committed')")

	var wait int
	if err := db.QueryRow("SELECT @@innodb_lock_wait_timeout").Scan(&wait); err != nil || wait != 2 {
		t.Fatalf("extra flag: @@innodb_lock_wait_timeout = %d, %v; want 2", wait, err)
	}

	began = time.Now()
	s.Kill(t)
	t.Logf("Kill: %s", time.Since(began).Round(time.Millisecond))
	if _, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port()), time.Second); err == nil {
		t.Fatal("a killed server still accepts connections")
	}

	dsnBefore := s.DSN()
	began = time.Now()
	s.Restart(t)
	t.Logf("Restart: %s", time.Since(began).Round(time.Millisecond))
	if s.DSN() != dsnBefore {
		t.Fatalf("Restart moved the server: %s, was %s", s.DSN(), dsnBefore)
	}

	db = open(t, dsn)
	var v string
	if err := db.QueryRow("SELECT v FROM t WHERE id = 1").Scan(&v); err != nil || v != "committed" {
		t.Fatalf("after Kill and Restart: %q, %v; want the committed row", v, err)
	}

	// A connection opened before the freeze, and one opened during it.
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	s.Freeze(t)
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port()), time.Second)
	if err != nil {
		t.Fatalf("a frozen server should still accept TCP connections into its backlog: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a frozen server sent %d bytes of a greeting", n)
	}
	conn.Close()

	fresh := open(t, dsn)
	for name, pool := range map[string]*sql.DB{"open connection": db, "new connection": fresh} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		began = time.Now()
		err := pool.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("frozen server, %s: got %v after %s; want context.DeadlineExceeded",
				name, err, time.Since(began).Round(time.Millisecond))
		}
	}

	s.Thaw(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.QueryRowContext(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil || v != "committed" {
		t.Fatalf("after Thaw: %q, %v", v, err)
	}
}

// TestServerCleanupThawsAFrozenServer ends its test with the server frozen:
// the cleanup must still kill it.
func TestServerCleanupThawsAFrozenServer(t *testing.T) {
	var s *dbtest.Server
	t.Run("frozen", func(t *testing.T) {
		s = dbtest.StartServer(t)
		s.Freeze(t)
	})
	if s == nil {
		return // skipped: no MariaDB here
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port()), time.Second); err == nil {
		c.Close()
		t.Fatal("the server outlived the test that started it")
	}
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, query string) {
	t.Helper()
	if _, err := db.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
