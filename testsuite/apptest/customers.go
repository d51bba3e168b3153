package apptest

import (
	"testing"

	"go.uber.org/fx"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/apps/wire/customersapi"
	"github.com/b2borders/platform/migrations"
	"github.com/b2borders/platform/testsuite/dbtest"
)

// PoolSize bounds each booted service's database pool, so that a test with
// several services stays well under the server's connection limit.
const PoolSize = 8

// Service is a booted service.
type Service struct {
	URL string
	App *fx.App
}

// StartCustomers boots customers-api on a fresh database.
func StartCustomers(t testing.TB) Service {
	t.Helper()
	cfg := customersapi.Config{
		Port:  0,
		MySQL: mysql.Config{DSN: dbtest.NewDatabase(t), Schema: migrations.Customers, MaxOpenConns: PoolSize},
		Auth:  httpapi.AuthConfig{JWTSecret: JWTSecret, ServiceToken: ServiceToken},
	}
	url, app := Boot(t, customersapi.Module(cfg, Logger()))
	return Service{URL: url, App: app}
}
