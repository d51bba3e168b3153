// Package mysql implements the platform's storage ports on MySQL 8.4,
// MariaDB 10.11 and 11.x and MariaDB Galera, with database/sql and
// go-sql-driver/mysql.
//
// Every call a store makes goes through one runner, DB.run, and every
// transaction through DB.tx on top of it:
//
//   - A call is bounded by Config.Timeout, retries included: a frozen or
//     unreachable database costs a request that long, and then it is
//     errs.DependencyUnavailable, as is a connection lost mid-call and a
//     lock conflict still unresolved when the time is up.
//   - Deadlocks (and Galera certification failures, which MySQL reports as
//     deadlocks), lock wait timeouts and MariaDB's snapshot conflicts are
//     run again with a jittered pause. Each session waits for a row lock at
//     most half the timeout, so one wait never eats the whole budget.
//   - A transaction sends one statement per round trip and is rolled back
//     on the first error; nothing after a failed statement is committed.
//     Only a placement's INSERTs of new rows, its first statements, go
//     together in one round trip (DB.tx says why that is safe).
//   - Every read a later write depends on is a locking read (FOR UPDATE),
//     so no transaction opens a read view that MariaDB's snapshot isolation
//     (on by default from 11.6) could find stale at its write.
//   - Rows are locked in one global order, ascending product id, and the
//     statement that locks the contended product rows comes last, right
//     before COMMIT.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.opentelemetry.io/otel/trace"

	"github.com/b2borders/platform/adapters/tracing"
)

// Config says which database to open and which schema it must have.
type Config struct {
	// DSN is either a URL, mysql://user:pass@host:port/db?param=value, or a
	// go-sql-driver DSN, user:pass@tcp(host:port)/db?param=value.
	DSN string
	// Schema holds the migrations to apply at open; nil applies none.
	Schema fs.FS
	// MaxOpenConns bounds the pool; zero means DefaultMaxOpenConns.
	MaxOpenConns int
	// Timeout bounds every call a store makes to the database, retries
	// included; zero means DefaultTimeout.
	Timeout time.Duration
	// Render makes the payloads of the events the stores write.
	Render Renderers
	// Traces makes a span of every call a store makes inside a traced
	// request; nil makes none.
	Traces trace.TracerProvider
}

// DefaultTimeout is how long a store waits on the database before it
// reports it unavailable: long enough for a busy server, short enough that
// a frozen one costs a client a few seconds, not a hung request.
const DefaultTimeout = 5 * time.Second

// DefaultMaxOpenConns bounds each pool. More connections only queue inside
// InnoDB on a small machine (4, 8, 16 and 32 measured alike), and 16 keeps
// several replicas of both services well under MySQL's default
// max_connections of 151.
const DefaultMaxOpenConns = 16

// ParseDSN accepts both forms of Config.DSN and returns a driver config with
// the settings the adapters rely on: times parsed as UTC, and parameters
// interpolated client side so a statement costs one round trip, not three.
// The DSN must name a database.
func ParseDSN(dsn string) (*mysql.Config, error) {
	cfg, err := ParseServerDSN(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.DBName == "" {
		return nil, errors.New("names no database")
	}
	return cfg, nil
}

// ParseServerDSN is ParseDSN for a DSN that need not name a database.
func ParseServerDSN(dsn string) (*mysql.Config, error) {
	var cfg *mysql.Config
	if strings.HasPrefix(dsn, "mysql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, errors.New("not a mysql:// URL")
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "3306")
		}
		cfg, err = mysql.ParseDSN(fmt.Sprintf("tcp(%s)/%s?%s", host, strings.TrimPrefix(u.Path, "/"), u.RawQuery))
		if err != nil {
			return nil, err
		}
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	} else if strings.Contains(dsn, "://") {
		return nil, errors.New("want a mysql:// URL or a go-sql-driver DSN")
	} else {
		var err error
		if cfg, err = mysql.ParseDSN(dsn); err != nil {
			return nil, err
		}
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	return cfg, nil
}

// Open connects to the database, waits until it answers and applies the
// schema. Several replicas may open one database at once: migrations take
// a database-wide lock.
func Open(ctx context.Context, c Config) (*DB, error) {
	cfg, err := ParseDSN(c.DSN)
	if err != nil {
		return nil, err
	}
	if c.Schema != nil {
		if err := applySchema(cfg, c.Schema); err != nil {
			return nil, fmt.Errorf("migrate %s: %w", cfg.DBName, err)
		}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cfg.Timeout = timeout
	// A session gives up a row lock wait after half the call's time, in
	// whole seconds as the server takes it, so that a retry still fits,
	// unless the DSN sets it. A server that lets no session set it (the dev stack's embedded engine,
	// which has no row locks to wait for) keeps its own.
	locked := cfg.Clone()
	if locked.Params == nil {
		locked.Params = map[string]string{}
	}
	if _, set := locked.Params["innodb_lock_wait_timeout"]; !set {
		locked.Params["innodb_lock_wait_timeout"] = fmt.Sprint(max(1, int(timeout/2/time.Second)))
	}
	// On a Galera cluster every read first waits until the node has applied
	// what the cluster committed before it (wsrep_sync_wait=1), so a read
	// through one node sees a write made through another, unless the DSN
	// sets it. Elsewhere it is a no-op (MariaDB without a cluster) or
	// refused (MySQL, the embedded engine), and then left out.
	if _, set := locked.Params["wsrep_sync_wait"]; !set {
		locked.Params["wsrep_sync_wait"] = "1"
	}
	// A placement sends its INSERTs of new rows as one multi-statement
	// query (see DB.tx for why only those). Every value is a placeholder,
	// interpolated by the driver, so no input can add a statement.
	locked.MultiStatements = true
	db, err := openPool(ctx, locked, c.MaxOpenConns, timeout)
	for err != nil {
		param := refusedParam(err, locked.Params, "wsrep_sync_wait", "innodb_lock_wait_timeout")
		if param == "" {
			break
		}
		delete(locked.Params, param)
		db, err = openPool(ctx, locked, c.MaxOpenConns, timeout)
	}
	if err != nil {
		return nil, err
	}
	out := &DB{DB: db, timeout: timeout, name: cfg.DBName, render: c.Render}
	if tracing.Enabled(c.Traces) {
		out.tracer = tracing.Tracer(c.Traces)
	}
	return out, nil
}

// refusedParam returns the one of names that is set in params and that err,
// the server's answer to setting them, names; or "".
func refusedParam(err error, params map[string]string, names ...string) string {
	for _, name := range names {
		if _, set := params[name]; set && strings.Contains(err.Error(), name) {
			return name
		}
	}
	return ""
}

// openPool opens a pool of at most n connections (DefaultMaxOpenConns when
// n is zero) and waits until the database answers.
func openPool(ctx context.Context, cfg *mysql.Config, n int, timeout time.Duration) (*sql.DB, error) {
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	if n <= 0 {
		n = DefaultMaxOpenConns
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(30 * time.Minute)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
