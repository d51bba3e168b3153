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
		MySQL: mysql.Config{DSN: dbtest.NewDatabase(t), Schema: migrations.Customers},
		Auth:  httpapi.AuthConfig{JWTSecret: JWTSecret, ServiceToken: ServiceToken},
	}
	url, app := Boot(t, customersapi.Module(cfg, Logger()))
	return Service{URL: url, App: app}
}
