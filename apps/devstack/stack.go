package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"go.uber.org/fx"

	"github.com/b2borders/platform/adapters/customersclient"
	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/apps/wire/customersapi"
	orchestratorapp "github.com/b2borders/platform/apps/wire/orchestrator"
	"github.com/b2borders/platform/apps/wire/ordersapi"
	"github.com/b2borders/platform/apps/wire/shell"
	"github.com/b2borders/platform/core/ordering"
	"github.com/b2borders/platform/migrations"
)

// config is what the dev stack reads from its environment.
type config struct {
	// serverURL names a MySQL server to use instead of the embedded
	// engine; it names no database, since the stack creates its own.
	serverURL        string
	auth             httpapi.AuthConfig
	customersPort    int
	ordersPort       int
	orchestratorPort int
	reservationTTL   time.Duration
	sampleData       bool
	// tracing is every service's, but for the name: OTEL_SERVICE_NAME
	// cannot name three services, so each keeps its own.
	tracing shell.TracingConfig
}

// ServerURLVar names the variable of a MySQL server to use instead of the
// embedded engine. It is not DATABASE_URL, which names one service's
// database: the stack creates and uses two.
const ServerURLVar = "DEVSTACK_SERVER_URL"

// Development defaults, those of .env.example: the stack must run with
// nothing set.
const (
	devJWTSecret    = "dev-jwt-secret-change-me-0123456789"
	devServiceToken = "dev-service-token-change-me-0123456789"
)

func loadConfig(env *shell.Env) config {
	return config{
		serverURL: serverURL(env),
		auth: httpapi.AuthConfig{
			JWTSecret:    secretOr(env, "JWT_SECRET", devJWTSecret),
			ServiceToken: secretOr(env, "SERVICE_TOKEN", devServiceToken),
		},
		customersPort:    env.Port("CUSTOMERS_PORT", customersapi.DefaultPort),
		ordersPort:       env.Port("ORDERS_PORT", ordersapi.DefaultPort),
		orchestratorPort: env.Port("ORCHESTRATOR_PORT", orchestratorapp.DefaultPort),
		reservationTTL:   env.DurationOrOff("RESERVATION_TTL", ordering.DefaultReservationTTL),
		sampleData:       true,
		tracing:          loadTracing(env),
	}
}

// loadTracing reads the services' OTEL_* variables. In the dev stack,
// OTEL_TRACES_EXPORTER=console prints each trace as a tree on stderr,
// once it has been quiet for a moment, rather than each span as JSON.
func loadTracing(env *shell.Env) shell.TracingConfig {
	cfg := shell.LoadTracing(env, "")
	if cfg.Exporter == shell.ExportConsole {
		cfg.SpanExporter = newTracePrinter(os.Stderr, 300*time.Millisecond)
	}
	return cfg
}

// tracingOf is the tracing configuration of the service name.
func (c config) tracingOf(name string) shell.TracingConfig {
	t := c.tracing
	t.ServiceName = name
	return t
}

// serverURL is DEVSTACK_SERVER_URL, "" when unset: a mysql:// URL or a
// go-sql-driver DSN of a server, naming no database.
func serverURL(env *shell.Env) string {
	if env.String(ServerURLVar, "") == "" {
		return ""
	}
	return env.Required(ServerURLVar, checkServerURL)
}

func checkServerURL(v string) error {
	c, err := mysql.ParseServerDSN(v)
	if err != nil {
		return err
	}
	if c.DBName != "" {
		return fmt.Errorf("names the database %q: give the server only, such as mysql://root:dev-root-password@127.0.0.1:3306/; "+
			"the dev stack creates customers_db and orders_db there", c.DBName)
	}
	return nil
}

// secretOr is the secret name holds when it is set, else a development one.
func secretOr(env *shell.Env, name, def string) string {
	if env.String(name, "") == "" {
		return def
	}
	return env.Secret(name, shell.MinSecretLen)
}

// stack is the three services running in this process.
type stack struct {
	engine *engine
	// server is the DSN of the database server, naming no database.
	server          string
	apps            []*fx.App
	customersURL    string
	ordersURL       string
	orchestratorURL string
}

// serverDSN returns the DSN of the server the stack uses, without a database
// name, and whether it is the embedded engine.
func (s *stack) serverDSN(cfg config) (string, bool, error) {
	if cfg.serverURL != "" {
		c, err := mysql.ParseServerDSN(cfg.serverURL)
		if err != nil {
			return "", false, fmt.Errorf("%s: %w", ServerURLVar, err)
		}
		return c.FormatDSN(), false, nil
	}
	e, err := startEngine("127.0.0.1:0")
	if err != nil {
		return "", false, err
	}
	s.engine = e
	return e.dsn(), true, nil
}

func withDB(serverDSN, name string) string {
	c, _ := gomysql.ParseDSN(serverDSN)
	c.DBName = name
	return c.FormatDSN()
}

// start brings up the databases, then customers-api, orders-api and the
// orchestrator, each through the fx module its own binary runs.
func start(ctx context.Context, cfg config, log *slog.Logger) (_ *stack, err error) {
	s := &stack{}
	defer func() {
		if err != nil {
			s.stop(context.Background())
		}
	}()
	server, embedded, err := s.serverDSN(cfg)
	if err != nil {
		return nil, err
	}
	s.server = server
	if err := createDatabases(ctx, server, "customers_db", "orders_db"); err != nil {
		return nil, mysql.NewOpenError(server, err)
	}
	conns := 0
	if embedded {
		conns = 1
	}

	customers, err := s.run(ctx, "customers-api", customersapi.Module(customersapi.Config{
		Port:    cfg.customersPort,
		MySQL:   mysql.Config{DSN: withDB(server, "customers_db"), Schema: migrations.Customers, MaxOpenConns: conns},
		Auth:    cfg.auth,
		Tracing: cfg.tracingOf(customersapi.Name),
	}, log))
	if err != nil {
		return nil, err
	}
	s.customersURL = customers

	orders, err := s.run(ctx, "orders-api", ordersapi.Module(ordersapi.Config{
		Port:      cfg.ordersPort,
		MySQL:     mysql.Config{DSN: withDB(server, "orders_db"), Schema: migrations.Orders, MaxOpenConns: conns},
		Auth:      cfg.auth,
		Customers: customersclient.Config{BaseURL: s.customersURL, ServiceToken: cfg.auth.ServiceToken},
		Ordering:  ordering.Config{ReservationTTL: cfg.reservationTTL},
		Tracing:   cfg.tracingOf(ordersapi.Name),
	}, log))
	if err != nil {
		return nil, err
	}
	s.ordersURL = orders

	orchestrator, err := s.run(ctx, "orchestrator", orchestratorapp.Module(orchestratorapp.Config{
		Port:         cfg.orchestratorPort,
		CustomersURL: s.customersURL,
		OrdersURL:    s.ordersURL,
		Auth:         cfg.auth,
		Tracing:      cfg.tracingOf(orchestratorapp.Name),
	}, log))
	if err != nil {
		return nil, err
	}
	s.orchestratorURL = orchestrator

	if cfg.sampleData {
		if err := loadSampleData(ctx, server); err != nil {
			return nil, fmt.Errorf("sample data: %w", err)
		}
	}
	return s, nil
}

// run starts one service's app and returns its base URL; its error names
// the service and the cause.
func (s *stack) run(ctx context.Context, name string, module fx.Option) (string, error) {
	var srv *shell.Server
	app := fx.New(module, fx.Populate(&srv))
	if err := app.Err(); err != nil {
		return "", errors.New(shell.StartFailure(name, err))
	}
	if err := app.Start(ctx); err != nil {
		return "", errors.New(shell.StartFailure(name, err))
	}
	s.apps = append(s.apps, app)
	return "http://" + loopback(srv.Addr()), nil
}

// loopback turns a listen address such as [::]:3001 into 127.0.0.1:3001.
func loopback(addr string) string {
	return "127.0.0.1" + addr[strings.LastIndex(addr, ":"):]
}

// stop stops the services in reverse order, then the engine.
func (s *stack) stop(ctx context.Context) error {
	var errs []error
	for i := len(s.apps) - 1; i >= 0; i-- {
		errs = append(errs, s.apps[i].Stop(ctx))
	}
	if s.engine != nil {
		s.engine.close()
	}
	return errors.Join(errs...)
}

func createDatabases(ctx context.Context, serverDSN string, names ...string) error {
	db, err := sql.Open("mysql", serverDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, name := range names {
		if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"` CHARACTER SET utf8mb4"); err != nil {
			return fmt.Errorf("create database %s: %w", name, err)
		}
	}
	return nil
}

// loadSampleData runs the shipped sample data file, which is written to be
// run again without harm.
func loadSampleData(ctx context.Context, serverDSN string) error {
	db, err := sql.Open("mysql", serverDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, stmt := range strings.Split(string(migrations.SampleData), ";\n") {
		if stmt = strings.TrimSpace(stripSQLComments(stmt)); stmt == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%w in: %.80s", err, stmt)
		}
	}
	return nil
}
