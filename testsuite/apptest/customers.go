package apptest

import (
	"log/slog"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/b2borders/platform/adapters/customersclient"
	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/apps/wire/customersapi"
	"github.com/b2borders/platform/apps/wire/ordersapi"
	"github.com/b2borders/platform/apps/wire/shell"
	"github.com/b2borders/platform/core/ordering"
	"github.com/b2borders/platform/migrations"
	"github.com/b2borders/platform/testsuite/dbtest"
)

// PoolSize bounds each booted service's database pool. Tests run in
// parallel, with several services each, against one server whose
// connection limit (151 by default) they must stay well under; a small pool
// also makes concurrent requests queue for connections, which is one more
// interleaving the properties must survive.
const PoolSize = 8

// Auth is the auth configuration every test service shares.
var Auth = httpapi.AuthConfig{JWTSecret: JWTSecret, ServiceToken: ServiceToken}

// Service is a booted service.
type Service struct {
	URL string
	App *fx.App
}

// StartCustomers boots customers-api on a fresh database.
func StartCustomers(t testing.TB) Service {
	t.Helper()
	return StartCustomersWith(t, Observed{})
}

// Observed says where a booted service's logs and spans go: by default
// its logs are dropped and it traces nothing.
type Observed struct {
	// Log gets the service's log lines; nil drops them.
	Log *slog.Logger
	// Tracing is the service's tracing configuration; its zero value
	// exports nothing.
	Tracing shell.TracingConfig
}

func (o Observed) logger() *slog.Logger {
	if o.Log == nil {
		return Logger()
	}
	return o.Log
}

// StartCustomersWith boots customers-api on a fresh database, observed as
// o says.
func StartCustomersWith(t testing.TB, o Observed) Service {
	t.Helper()
	url, app := Boot(t, customersapi.Module(customersapi.Config{
		MySQL:   mysql.Config{DSN: dbtest.NewDatabase(t), Schema: migrations.Customers, MaxOpenConns: PoolSize},
		Auth:    Auth,
		Tracing: o.Tracing,
	}, o.logger()))
	return Service{URL: url, App: app}
}

// OrdersOptions say how to boot an orders-api.
type OrdersOptions struct {
	// DSN is its database; several replicas may share one.
	DSN          string
	CustomersURL string
	// Now is its clock; nil is time.Now.
	Now func() time.Time
	// DBTimeout bounds its database calls; zero is the service's default.
	DBTimeout time.Duration
	// ReservationTTL is how long a placed order holds its stock; zero
	// turns expiry off.
	ReservationTTL time.Duration
	// Events configures its outbox, feed and webhooks; the zero value runs
	// no dispatcher.
	Events ordersapi.EventsConfig
	Observed
}

// StartOrders boots an orders-api.
func StartOrders(t testing.TB, o OrdersOptions) Service {
	t.Helper()
	url, app := Boot(t, ordersapi.Module(ordersapi.Config{
		MySQL:     mysql.Config{DSN: o.DSN, Schema: migrations.Orders, MaxOpenConns: PoolSize, Timeout: o.DBTimeout},
		Auth:      Auth,
		Customers: customersclient.Config{BaseURL: o.CustomersURL, ServiceToken: ServiceToken},
		Ordering:  ordering.Config{Now: o.Now, ReservationTTL: o.ReservationTTL},
		Events:    o.Events,
		Tracing:   o.Tracing,
	}, o.logger()))
	return Service{URL: url, App: app}
}
