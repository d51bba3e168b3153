package mysql

import (
	"context"

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

// NewDB opens the pool when the application is built and closes it when the
// application stops.
func NewDB(lc fx.Lifecycle, cfg Config) (*DB, error) {
	db, err := Open(context.Background(), cfg)
	if err != nil {
		return nil, NewOpenError(cfg.DSN, err)
	}
	lc.Append(fx.StopHook(db.Close))
	return db, nil
}
