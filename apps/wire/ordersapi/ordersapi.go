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
	"github.com/b2borders/platform/core/events"
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
	// PurgeInterval is how often expired idempotency keys and events are
	// deleted; zero means DefaultPurgeInterval.
	PurgeInterval time.Duration
	Events        EventsConfig
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
			ReservationTTL: env.DurationOrOff("RESERVATION_TTL", ordering.DefaultReservationTTL),
		},
		Tracing: shell.LoadTracing(env, Name),
	}
	cfg.Customers = customersclient.Config{
		BaseURL:      env.URL("CUSTOMERS_API_URL"),
		ServiceToken: cfg.Auth.ServiceToken,
	}
	cfg.Events = loadEvents(env)
	return cfg
}

// Name is the service's name in its logs and traces.
const Name = "orders-api"

// Module is the whole service for cfg, logging to log.
func Module(cfg Config, log *slog.Logger) fx.Option {
	// Every line names the service: the dev stack runs several in one process.
	log = log.With("service", Name)
	// Events carry the order or product as the API renders it.
	cfg.MySQL.Render = mysql.Renderers{Order: httpapi.RenderOrder, Product: httpapi.RenderProduct}
	return fx.Options(
		fx.WithLogger(func() fxevent.Logger { return shell.FxLogger(log) }),
		fx.Supply(log, cfg.MySQL, cfg.Auth, cfg.Customers, cfg.Ordering, cfg.Events, cfg.Tracing,
			purgeConfig{Interval: cfg.PurgeInterval, Now: cfg.Ordering.Now, Retention: cfg.Events.Retention},
			shell.ServerConfig{Name: Name, Port: cfg.Port}),
		shell.TracingModule,
		mysql.Module,
		httpapi.Module,
		fx.Provide(
			fx.Annotate(newCustomersClient, fx.As(new(ordering.CustomerDirectory))),
			catalog.NewService,
			ordering.NewService,
			newHandler,
			newDispatcher,
			shell.NewServer,
		),
		fx.Invoke(func(*shell.Server) {}),
		fx.Invoke(startPurger),
		fx.Invoke(startSweeper),
		fx.Invoke(startPublisher),
		fx.Invoke(startDispatcher),
	)
}

func newHandler(log *slog.Logger, db *mysql.DB, traces trace.TracerProvider, d *events.Dispatcher, auth *httpapi.Auth,
	products *httpapi.ProductHandler, orders *httpapi.OrderHandler, feed *httpapi.EventHandler) http.Handler {
	ops := dbshell.DatabaseOps(db, httpapi.OrdersOpenAPI, traces)
	registerEventMetrics(ops.Registry, db, d)
	return httpapi.NewHandler(log, ops, auth, products, orders, feed)
}

func newCustomersClient(cfg customersclient.Config, traces trace.TracerProvider) *customersclient.Client {
	cfg.Traces = traces
	return customersclient.New(cfg)
}

// sweepTimeout bounds one sweep, so a stuck database cannot stall the loop
// or delay shutdown for long.
const sweepTimeout = 30 * time.Second

// startSweeper expires the orders whose reservation ran out, every
// ordering.SweepInterval of the TTL, for the app's lifetime; with expiry
// off it starts nothing. Every replica runs it: the store's batches skip
// the orders another replica's sweep holds, so replicas share a backlog
// rather than fight over it, and no order is expired twice.
func startSweeper(lc fx.Lifecycle, log *slog.Logger, svc *ordering.Service, cfg ordering.Config) {
	interval := ordering.SweepInterval(cfg.ReservationTTL)
	if interval <= 0 {
		return
	}
	every(lc, interval, func(ctx context.Context) {
		sctx, cancel := context.WithTimeout(ctx, sweepTimeout)
		n, err := svc.ExpireDue(sctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("expire reservations", "error", err.Error(), "expired", n)
		case n > 0:
			log.Info("expired reservations", "count", n)
		}
	})
}

// every runs fn every interval from the app's start until its stop, which
// cancels fn's context and waits for it to return.
func every(lc fx.Lifecycle, interval time.Duration, fn func(context.Context)) {
	background(lc, func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			fn(ctx)
		}
	})
}

// background runs loop in a goroutine of its own from the app's start, and
// at its stop ends loop's context and waits for it to return.
func background(lc fx.Lifecycle, loop func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				loop(ctx)
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

// purgeConfig tunes the loop that forgets expired idempotency keys and
// events.
type purgeConfig struct {
	Interval time.Duration
	// Now is the clock keys expire by; nil is time.Now.
	Now func() time.Time
	// Retention is how long events are kept; zero means
	// events.DefaultRetention.
	Retention time.Duration
}

// purgeTimeout bounds one purge, so a stuck database cannot stall the loop
// past the next tick or delay shutdown.
const purgeTimeout = 30 * time.Second

// startPurger deletes expired idempotency keys and events older than the
// retention every interval for the app's lifetime. Every replica runs it:
// the deletes are idempotent, and no correctness rests on which replica
// gets there first.
func startPurger(lc fx.Lifecycle, log *slog.Logger, purger idempotency.Purger, store *mysql.EventStore, cfg purgeConfig) {
	startPurging(lc, log, purger, store, cfg)
}

// eventPurger deletes the events older than a cutoff.
type eventPurger interface {
	Purge(ctx context.Context, cutoff time.Time) (int64, error)
}

func startPurging(lc fx.Lifecycle, log *slog.Logger, purger idempotency.Purger, store eventPurger, cfg purgeConfig) {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultPurgeInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retention <= 0 {
		cfg.Retention = events.DefaultRetention
	}
	every(lc, cfg.Interval, func(ctx context.Context) {
		pctx, cancel := context.WithTimeout(ctx, purgeTimeout)
		n, err := purger.Purge(pctx, cfg.Now().UTC())
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("purge idempotency keys", "error", err.Error())
		case n > 0:
			log.Info("purged idempotency keys", "count", n)
		}
		pctx, cancel = context.WithTimeout(ctx, purgeTimeout)
		n, err = store.Purge(pctx, cfg.Now().UTC().Add(-cfg.Retention))
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("purge events", "error", err.Error())
		case n > 0:
			log.Info("purged events", "count", n)
		}
	})
}
