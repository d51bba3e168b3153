//go:build galera

package galera_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/apps/wire/customersapi"
	"github.com/b2borders/platform/migrations"
	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/galera"
)

// TestOneEmailOnTwoNodes creates customers with one email through
// customers-api replicas on two nodes at once, several times over. The
// unique key is checked on each node alone, so both inserts run and the
// one certified second fails with 1213; run again, it finds the email
// taken. Each round: one 201, the others 409 email_taken, never a 500,
// and one live customer with the email on every node.
func TestOneEmailOnTwoNodes(t *testing.T) {
	c := galera.Open(t)
	db := c.NewDatabase(t)
	var replicas []*apptest.Client
	for _, n := range []int{1, 2} {
		url, _ := apptest.Boot(t, customersapi.Module(customersapi.Config{
			MySQL: mysql.Config{DSN: c.DSN(n, db), Schema: migrations.Customers, MaxOpenConns: apptest.PoolSize},
			Auth:  apptest.Auth,
		}, apptest.Logger()))
		replicas = append(replicas, &apptest.Client{
			Base: url, Token: apptest.OperatorToken(t),
			HTTP: &http.Client{Transport: apptest.ValidatingTransport(t, httpapi.CustomersOpenAPI)},
		})
	}
	cert0, bf0 := c.Counter("wsrep_local_cert_failures"), c.Counter("wsrep_local_bf_aborts")
	for round := range 10 {
		email := fmt.Sprintf("same-%d@example.com", round)
		answers := concurrently(t, 6, func(i int) (*apptest.Response, error) {
			return send(replicas[i%2], "POST", "/customers", map[string]any{"name": "Same", "email": email})
		})
		created := 0
		for _, r := range answers {
			switch {
			case r.Status == 201:
				created++
			case r.Status == 409 && code(r) == "email_taken":
			default:
				t.Fatalf("round %d: answered %d: %s", round, r.Status, r.Body)
			}
		}
		if created != 1 {
			t.Fatalf("round %d: %d customers created with one email, want 1", round, created)
		}
		for n := 1; n <= galera.Nodes; n++ {
			var live int
			c.QueryRow(t, n, db, []any{&live}, "SELECT COUNT(*) FROM customers WHERE email = ? AND deleted_at IS NULL", email)
			if live != 1 {
				t.Errorf("round %d: node %d holds %d live customers with the email, want 1", round, n, live)
			}
		}
	}
	t.Logf("%d certification failures, %d brute-force aborts", c.Counter("wsrep_local_cert_failures")-cert0, c.Counter("wsrep_local_bf_aborts")-bf0)
}
