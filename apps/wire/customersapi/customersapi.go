// Package customersapi assembles the customers service from the core use
// cases and the MySQL and HTTP adapters. The customers-api binary and the
// development stack both run it.
package customersapi

import (
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/apps/wire/shell"
	"github.com/b2borders/platform/apps/wire/shell/dbshell"
	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/migrations"
)

// DefaultPort is where the service listens when PORT is unset.
const DefaultPort = 3001

// Config is everything the service reads from its environment.
type Config struct {
	Port    int
	MySQL   mysql.Config
	Auth    httpapi.AuthConfig
	Tracing shell.TracingConfig
}

// LoadConfig reads the service's variables; env.Err reports the first bad one.
func LoadConfig(env *shell.Env) Config {
	return Config{
		Port:    env.Port("PORT", DefaultPort),
		MySQL:   dbshell.LoadMySQL(env, migrations.Customers),
		Auth:    shell.LoadAuth(env),
		Tracing: shell.LoadTracing(env, Name),
	}
}

// Name is the service's name in its logs and traces.
const Name = "customers-api"

// Module is the whole service for cfg, logging to log.
func Module(cfg Config, log *slog.Logger) fx.Option {
	// Every line names the service: the dev stack runs several in one process.
	log = log.With("service", Name)
	return fx.Options(
		fx.WithLogger(func() fxevent.Logger { return shell.FxLogger(log) }),
		fx.Supply(log, cfg.MySQL, cfg.Auth, cfg.Tracing, shell.ServerConfig{Name: Name, Port: cfg.Port}),
		shell.TracingModule,
		mysql.Module,
		httpapi.Module,
		fx.Provide(customer.NewService, newHandler),
		fx.Provide(shell.NewServer),
		fx.Invoke(func(*shell.Server) {}),
	)
}

func newHandler(log *slog.Logger, db *mysql.DB, traces trace.TracerProvider, auth *httpapi.Auth, customers *httpapi.CustomerHandler) http.Handler {
	return httpapi.NewHandler(log, dbshell.DatabaseOps(db, httpapi.CustomersOpenAPI, traces), auth, customers)
}
