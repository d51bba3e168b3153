// Package mysql implements the platform's storage ports on MySQL 8 and
// MariaDB 10.11 with database/sql and go-sql-driver/mysql.
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
}

// DefaultTimeout is how long a store waits on the database before it
// reports it unavailable: long enough for a busy server, short enough that
// a frozen one costs a client a few seconds, not a hung request.
const DefaultTimeout = 5 * time.Second

// DefaultMaxOpenConns bounds each pool. More connections only queue inside
// InnoDB on a small machine (4, 8, 16 and 32 measured alike), and an
// orders-api replica opens two pools, so 16 keeps a few replicas and
// customers-api well under MySQL's default max_connections of 151.
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
func Open(ctx context.Context, c Config) (*sql.DB, error) {
	cfg, err := ParseDSN(c.DSN)
	if err != nil {
		return nil, err
	}
	if c.Schema != nil {
		if err := applySchema(cfg, c.Schema); err != nil {
			return nil, fmt.Errorf("migrate %s: %w", cfg.DBName, err)
		}
	}
	return openPool(ctx, cfg, c.MaxOpenConns)
}

// openPool opens a pool of at most n connections (DefaultMaxOpenConns when
// n is zero) and waits until the database answers.
func openPool(ctx context.Context, cfg *mysql.Config, n int) (*sql.DB, error) {
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
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
