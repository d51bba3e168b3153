// Package dbtest gives each test a freshly created MySQL database, dropped
// when the test ends, and marks the tests that only mean something on a
// real MySQL or MariaDB server.
//
// The shared server of a test binary is, in this order:
//
//   - TEST_MYSQL_DSN, when set: a user that may create and drop databases,
//     as a go-sql-driver DSN (root@tcp(127.0.0.1:3306)/) or a URL
//     (mysql://root@127.0.0.1:3306/). make test stops at once when it does
//     not answer within AnswerTimeout; a test binary gives it a few seconds;
//     every test runs on it, and a test it cannot run fails.
//   - DBTEST_ENGINE_DSN: the dev stack's embedded engine (go-mysql-server),
//     which `make test` starts when there is neither TEST_MYSQL_DSN nor a
//     Docker engine. Tests that need InnoDB (RequireInnoDB) are skipped
//     there, and each skip is recorded for make test's summary.
//   - a mysql:8.4 container started with testcontainers-go, once per test
//     binary, when a Docker engine answers.
//
// Where there is none of these, a test that needs a database fails saying
// what to set.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/testcontainers/testcontainers-go"
	tcmysql "github.com/testcontainers/testcontainers-go/modules/mysql"

	platformmysql "github.com/b2borders/platform/adapters/mysql"
)

const (
	// EnvDSN names the variable that points the tests at a running server.
	EnvDSN = "TEST_MYSQL_DSN"
	// EnvEngineDSN names the variable through which make test hands the
	// tests the embedded engine it started.
	EnvEngineDSN = "DBTEST_ENGINE_DSN"
	// EnvSkipDir names the directory where each test skipped for want of
	// InnoDB or MariaDB leaves a record (see ReadSkipped).
	EnvSkipDir = "DBTEST_SKIP_DIR"
)

// AnswerTimeout is how long a server named by TEST_MYSQL_DSN may take to
// answer before make test gives up on it, and how long a Docker engine may
// take to answer.
const AnswerTimeout = time.Second

// busyAnswerTimeout is how long a test binary waits for the server's first
// answer: several binaries start at once, each under the race detector.
const busyAnswerTimeout = 5 * time.Second

// ServerInfo describes a server that answered.
type ServerInfo struct {
	Addr    string // host:port
	Version string // "MariaDB 10.11.6", "MySQL 8.4.3", "go-mysql-server 8.0.31"
	// Embedded is true for the dev stack's embedded engine, which has no
	// InnoDB: no row locks, lock waits, isolation or crash recovery.
	Embedded bool
}

func (s ServerInfo) String() string {
	if s.Embedded {
		return "the dev stack's embedded engine (" + s.Version + ") at " + s.Addr
	}
	return s.Version + " at " + s.Addr
}

// Check connects to the server of dsn, a go-sql-driver DSN or a mysql://
// URL, within ctx's deadline or else AnswerTimeout, and describes it. It
// returns the DSN in go-sql-driver form, naming no database. Its errors
// never hold the password.
func Check(ctx context.Context, dsn string) (ServerInfo, string, error) {
	cfg, err := platformmysql.ParseServerDSN(dsn)
	if err != nil {
		return ServerInfo{}, "", fmt.Errorf("not a DSN (want user:pass@tcp(host:port)/ or mysql://user:pass@host:port/): %v", err)
	}
	if strings.HasPrefix(dsn, "mysql://") {
		// Only the server is taken from the URL; the tests and the
		// services set the session parameters they rely on themselves.
		cfg.ParseTime, cfg.InterpolateParams = false, false
	} else if cfg, err = mysql.ParseDSN(dsn); err != nil {
		return ServerInfo{}, "", err
	}
	cfg.DBName = ""
	srv := ServerInfo{Addr: cfg.Addr}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, AnswerTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	within := time.Until(deadline).Round(100 * time.Millisecond)
	probe := cfg.Clone()
	probe.Timeout = time.Until(deadline)
	db, err := sql.Open("mysql", probe.FormatDSN())
	if err != nil {
		return srv, "", err
	}
	defer db.Close()
	var version, comment string
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), @@version_comment").Scan(&version, &comment); err != nil {
		return srv, "", describe(cfg, err, within)
	}
	switch {
	case comment == "Dolt": // what go-mysql-server calls itself
		srv.Version, srv.Embedded = "go-mysql-server "+version, true
	case strings.Contains(version, "MariaDB"):
		srv.Version = "MariaDB " + strings.SplitN(version, "-", 2)[0]
	default:
		srv.Version = "MySQL " + strings.SplitN(version, "-", 2)[0]
	}
	return srv, cfg.FormatDSN(), nil
}

// describe says in a few words why the server of cfg did not answer.
func describe(cfg *mysql.Config, err error, within time.Duration) error {
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me) && me.Number == 1045:
		return fmt.Errorf("%s refuses user %q: wrong user or password", cfg.Addr, cfg.User)
	case errors.As(err, &me):
		return fmt.Errorf("%s: %s", cfg.Addr, me.Message)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("nothing listens on %s (connection refused)", cfg.Addr)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Errorf("%s did not answer within %s", cfg.Addr, within)
	default:
		return fmt.Errorf("%s: %v", cfg.Addr, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// DockerAnswers reports whether a Docker engine that testcontainers-go can
// use answers within ctx; its error says why not.
func DockerAnswers(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("%v", r)
			}
		}()
		p, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(quiet{}))
		if err != nil {
			done <- err
			return
		}
		done <- p.Health(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer: %w", ctx.Err())
	}
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// shared is the server of this test binary, found once.
var shared struct {
	once     sync.Once
	dsn      string // no database name
	server   ServerInfo
	err      error
	reported atomic.Bool
}

func connectShared() {
	ctx := context.Background()
	if raw := os.Getenv(EnvDSN); raw != "" {
		ctx, cancel := context.WithTimeout(ctx, busyAnswerTimeout)
		defer cancel()
		shared.server, shared.dsn, shared.err = Check(ctx, raw)
		if shared.err != nil {
			shared.err = fmt.Errorf("dbtest: %s: %w. Fix the variable or start its server, or unset it to test on Docker or the dev stack's embedded engine (make test)", EnvDSN, shared.err)
		}
		return
	}
	if raw := os.Getenv(EnvEngineDSN); raw != "" {
		// The engine runs one transaction at a time for every test binary
		// of the run: its answer may wait for others' turns.
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		shared.server, shared.dsn, shared.err = Check(ctx, raw)
		if shared.err != nil {
			shared.err = fmt.Errorf("dbtest: the embedded engine of this run (%s): %w", EnvEngineDSN, shared.err)
		}
		return
	}
	probe, cancel := context.WithTimeout(ctx, AnswerTimeout)
	err := DockerAnswers(probe)
	cancel()
	if err != nil {
		shared.err = fmt.Errorf("dbtest: no MySQL server for the tests: %s is unset and no Docker engine answers (%v). "+
			"Run `make test`, which then starts the dev stack's embedded engine, or set %s to a user that may create databases, "+
			"for example %s='root@tcp(127.0.0.1:3306)/'", EnvDSN, err, EnvDSN, EnvDSN)
		return
	}
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	c, err := tcmysql.Run(ctx, "mysql:8.4", tcmysql.WithUsername("root"), tcmysql.WithPassword("test"))
	if err != nil {
		shared.err = fmt.Errorf("dbtest: start mysql:8.4 with testcontainers: %w", err)
		return
	}
	dsn, err := c.ConnectionString(ctx)
	if err != nil {
		shared.err = fmt.Errorf("dbtest: mysql:8.4 container: %w", err)
		return
	}
	shared.server, shared.dsn, shared.err = Check(ctx, dsn)
}

// sharedServer returns the shared server and its DSN, or fails t: in full
// for the first test of the binary that asks, in one line for the others.
func sharedServer(t testing.TB) (string, ServerInfo) {
	t.Helper()
	shared.once.Do(connectShared)
	if shared.err != nil {
		if shared.reported.Swap(true) {
			t.Fatal("dbtest: no MySQL server (see the first failure of this package)")
		}
		t.Fatal(shared.err)
	}
	return shared.dsn, shared.server
}

// NewDatabase creates an empty database for t and returns a go-sql-driver
// DSN for it; the database is dropped when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	dsn, _ := sharedServer(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
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

// RequireInnoDB marks t as one that only means something on a real MySQL
// or MariaDB server: it depends on InnoDB's row locks, lock waits,
// isolation or crash recovery. On the dev stack's embedded engine t is
// skipped and the skip recorded for make test's summary; where a real
// server was asked for (TEST_MYSQL_DSN set, or CI) it fails instead, so
// that such a test is never skipped there.
func RequireInnoDB(t testing.TB) {
	t.Helper()
	if _, srv := sharedServer(t); srv.Embedded {
		skipOrFail(t, NeedsServer, "it depends on InnoDB (row locks, lock waits, isolation, crash recovery), "+
			"which the dev stack's embedded engine at "+srv.Addr+" does not have")
	}
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
