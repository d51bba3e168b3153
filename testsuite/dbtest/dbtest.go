// Package dbtest gives each test a freshly created MySQL database, dropped
// when the test ends.
//
// The server comes from TEST_MYSQL_DSN when it is set (a DSN of a user that
// may create and drop databases, such as root@tcp(127.0.0.1:3306)/); else a
// mysql:8.4 container is started with testcontainers-go, once per test
// binary; where neither is possible the test fails saying what to set.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	tcmysql "github.com/testcontainers/testcontainers-go/modules/mysql"
)

// EnvDSN names the variable that points the tests at a running server.
const EnvDSN = "TEST_MYSQL_DSN"

var server struct {
	once sync.Once
	dsn  string
	err  error
}

// serverDSN returns the admin DSN of the server the tests use.
func serverDSN() (string, error) {
	server.once.Do(func() {
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			server.dsn = dsn
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		c, err := tcmysql.Run(ctx, "mysql:8.4", tcmysql.WithUsername("root"), tcmysql.WithPassword("test"))
		if err != nil {
			server.err = fmt.Errorf("no MySQL for the tests: set %s (for example %s='root@tcp(127.0.0.1:3306)/') "+
				"or make a Docker engine available for testcontainers: %w", EnvDSN, EnvDSN, err)
			return
		}
		server.dsn, server.err = c.ConnectionString(ctx)
	})
	return server.dsn, server.err
}

// NewDatabase creates an empty database for t and returns a go-sql-driver
// DSN for it; the database is dropped when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	dsn, err := serverDSN()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", EnvDSN, err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })

	var suffix [6]byte
	rand.Read(suffix[:])
	name := fmt.Sprintf("test_%s_%s", sanitize(t.Name()), hex.EncodeToString(suffix[:]))
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(ctx, "DROP DATABASE `"+name+"`"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// sanitize keeps a database name short and within [a-z0-9_].
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() == 24 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
