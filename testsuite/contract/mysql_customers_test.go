package contract_test

import (
	"context"
	"testing"

	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/migrations"
	"github.com/b2borders/platform/testsuite/contract"
	"github.com/b2borders/platform/testsuite/dbtest"
)

func TestMySQLCustomerRepository(t *testing.T) {
	contract.RunCustomerRepositorySuite(t, func(t *testing.T) customer.Repository {
		db, err := mysql.Open(context.Background(), mysql.Config{DSN: dbtest.NewDatabase(t), Schema: migrations.Customers})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return mysql.NewCustomerStore(db)
	})
}
