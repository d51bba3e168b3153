// Package ordersapi assembles the orders service, products and orders, from
// the core use cases, the MySQL and HTTP adapters and the customers-api
// client. The orders-api binary and the development stack both run it.
package ordersapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/b2borders/platform/adapters/customersclient"
	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/apps/wire/shell"
	"github.com/b2borders/platform/apps/wire/shell/dbshell"
	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/idempotency"
	"github.com/b2borders/platform/core/ordering"
	"github.com/b2borders/platform/migrations"
)

// DefaultPort is where the service listens when PORT is unset.
const DefaultPort = 3002

// DefaultPurgeInterval is how often expired idempotency keys are deleted.
const DefaultPurgeInterval = time.Minute

// Config is everything the service reads from its environment.
type Config struct {
	Port      int
	MySQL     mysql.Config
	Auth      httpapi.AuthConfig
	Customers customersclient.Config
	Ordering  ordering.Config
	Tracing   shell.TracingConfig
	// PurgeInterval is how often expired idempotency keys are deleted;
	// zero means DefaultPurgeInterval.
	PurgeInterval time.Duration
}

// LoadConfig reads the service's variables; env.Err reports the first bad one.
func LoadConfig(env *shell.Env) Config {
	cfg := Config{
		Port:  env.Port("PORT", DefaultPort),
		MySQL: dbshell.LoadMySQL(env, migrations.Orders),
		Auth:  shell.LoadAuth(env),
		Ordering: ordering.Config{
			CancelWindow:   env.Duration("CANCEL_WINDOW", ordering.DefaultCancelWindow),
			IdempotencyTTL: env.Duration("IDEMPOTENCY_TTL", idempotency.DefaultTTL),
		},
		Tracing: shell.LoadTracing(env, Name),
	}
	cfg.Customers = customersclient.Config{
		BaseURL:      env.URL("CUSTOMERS_API_URL"),
		ServiceToken: cfg.Auth.ServiceToken,
	}
	return cfg
}

// Name is the service's name in its logs and traces.
const Name = "orders-api"

// Module is the whole service for cfg, logging to log.
func Module(cfg Config, log *slog.Logger) fx.Option {
	// Every line names the service: the dev stack runs several in one process.
	log = log.With("service", Name)
	return fx.Options(
		fx.WithLogger(func() fxevent.Logger { return shell.FxLogger(log) }),
		fx.Supply(log, cfg.MySQL, cfg.Auth, cfg.Customers, cfg.Ordering, cfg.Tracing,
			purgeConfig{Interval: cfg.PurgeInterval, Now: cfg.Ordering.Now},
			shell.ServerConfig{Name: Name, Port: cfg.Port}),
		shell.TracingModule,
		mysql.Module,
		httpapi.Module,
		fx.Provide(
			fx.Annotate(newCustomersClient, fx.As(new(ordering.CustomerDirectory))),
			catalog.NewService,
			ordering.NewService,
			newHandler,
			shell.NewServer,
		),
		fx.Invoke(func(*shell.Server) {}),
		fx.Invoke(startPurger),
	)
}

func newHandler(log *slog.Logger, db *mysql.DB, traces trace.TracerProvider, auth *httpapi.Auth, products *httpapi.ProductHandler, orders *httpapi.OrderHandler) http.Handler {
	return httpapi.NewHandler(log, dbshell.DatabaseOps(db, httpapi.OrdersOpenAPI, traces), auth, products, orders)
}

func newCustomersClient(cfg customersclient.Config, traces trace.TracerProvider) *customersclient.Client {
	cfg.Traces = traces
	return customersclient.New(cfg)
}

// purgeConfig tunes the loop that forgets expired idempotency keys.
type purgeConfig struct {
	Interval time.Duration
	// Now is the clock keys expire by; nil is time.Now.
	Now func() time.Time
}

// purgeTimeout bounds one purge, so a stuck database cannot stall the loop
// past the next tick or delay shutdown.
const purgeTimeout = 30 * time.Second

// startPurger deletes expired idempotency keys every interval for the app's
// lifetime. Every replica runs it: the deletes are idempotent, and no
// correctness rests on which replica gets there first.
func startPurger(lc fx.Lifecycle, log *slog.Logger, purger idempotency.Purger, cfg purgeConfig) {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultPurgeInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				purgeLoop(ctx, log, purger, cfg)
			}()
			return nil
		},
		OnStop: func(stop context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-stop.Done():
				return stop.Err()
			}
		},
	})
}

func purgeLoop(ctx context.Context, log *slog.Logger, purger idempotency.Purger, cfg purgeConfig) {
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, purgeTimeout)
		n, err := purger.Purge(pctx, cfg.Now().UTC())
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("purge idempotency keys", "error", err.Error())
		case n > 0:
			log.Info("purged idempotency keys", "count", n)
		}
	}
}
