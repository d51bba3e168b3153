package mysql

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/events"
	"github.com/b2borders/platform/core/idempotency"
	"github.com/b2borders/platform/core/ordering"
)

// Module provides the connection pool, opened and migrated from a Config the
// application supplies, and every store over it; fx builds only the
// stores an application asks for.
var Module = fx.Module("mysql",
	fx.Provide(
		NewDB,
		fx.Annotate(NewCustomerStore, fx.As(new(customer.Repository))),
		fx.Annotate(NewProductStore, fx.As(new(catalog.Store))),
		fx.Annotate(NewOrderStore, fx.As(new(ordering.Store))),
		fx.Annotate(NewIdempotencyStore, fx.As(new(idempotency.Purger))),
		fx.Annotate(NewEventStore, fx.As(fx.Self()), fx.As(new(events.Feed)), fx.As(new(events.Dispatch))),
	),
)

// DBParams are what NewDB takes from the application.
type DBParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	// Traces, when the application provides one and Config has none,
	// makes the database calls' spans.
	Traces trace.TracerProvider `optional:"true"`
}

// NewDB opens the pool when the application is built and closes it when the
// application stops.
func NewDB(p DBParams) (*DB, error) {
	lc, cfg := p.Lifecycle, p.Config
	if cfg.Traces == nil {
		cfg.Traces = p.Traces
	}
	db, err := Open(context.Background(), cfg)
	if err != nil {
		return nil, NewOpenError(cfg.DSN, err)
	}
	lc.Append(fx.StopHook(db.Close))
	return db, nil
}
