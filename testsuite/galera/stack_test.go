//go:build galera

// Package galera_test runs orders-api replicas on different nodes of a
// MariaDB Galera cluster (cluster.sh) and checks that the races of the
// contract hold across nodes, that a transaction aborted by a write through
// another node is never partly committed, that replicas starting together
// on several nodes all start, and that a node lost or cut off is a 503 on
// its replicas only. customers-api runs on TEST_MYSQL_DSN (node 1 under
// make test-galera), except in TestOneEmailOnTwoNodes, where its replicas
// run on two nodes. Run with `make test-galera`.
package galera_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/galera"
)

// TestMain keeps the services' warnings about conflicts and lost nodes out
// of the test output.
func TestMain(m *testing.M) {
	slog.SetDefault(apptest.Logger())
	os.Exit(m.Run())
}

// stack is customers-api on TEST_MYSQL_DSN and orders-api replicas on
// nodes of the cluster, all on one orders database.
type stack struct {
	cluster   *galera.Cluster
	db        string
	customers *apptest.Client
	custURL   string
	// replicas[i] runs on node nodes[i].
	replicas []*apptest.Client
	nodes    []int
}

// newStack boots customers-api and one orders-api replica on each of nodes,
// one after the other, with DB_TIMEOUT dbTimeout (zero: the default).
func newStack(t *testing.T, dbTimeout time.Duration, nodes ...int) *stack {
	t.Helper()
	c := galera.Open(t)
	cust := apptest.StartCustomers(t)
	s := &stack{cluster: c, db: c.NewDatabase(t), custURL: cust.URL}
	s.customers = &apptest.Client{
		Base: cust.URL, Token: apptest.OperatorToken(t),
		HTTP: &http.Client{Transport: apptest.ValidatingTransport(t, httpapi.CustomersOpenAPI)},
	}
	for _, n := range nodes {
		s.boot(t, n, dbTimeout)
	}
	return s
}

// boot starts one more orders-api replica on node n.
func (s *stack) boot(t *testing.T, n int, dbTimeout time.Duration) *apptest.Client {
	t.Helper()
	svc := apptest.StartOrders(t, apptest.OrdersOptions{DSN: s.cluster.DSN(n, s.db), CustomersURL: s.custURL, DBTimeout: dbTimeout})
	c := &apptest.Client{
		Base: svc.URL, Token: apptest.OperatorToken(t),
		HTTP: &http.Client{Timeout: 60 * time.Second, Transport: apptest.ValidatingTransport(t, httpapi.OrdersOpenAPI)},
	}
	s.replicas = append(s.replicas, c)
	s.nodes = append(s.nodes, n)
	return c
}

func (s *stack) newCustomer(t *testing.T) string {
	t.Helper()
	var c struct {
		ID string `json:"id"`
	}
	s.customers.Do(t, "POST", "/customers", map[string]any{
		"name": "Buyer " + t.Name(), "email": fmt.Sprintf("buyer-%d@example.com", time.Now().UnixNano()),
	}).Want(t, 201).JSON(t, &c)
	return c.ID
}

var skus atomic.Int64

// newProduct creates a product through the first replica.
func (s *stack) newProduct(t *testing.T, price, stock int64) string {
	t.Helper()
	var p struct {
		ID string `json:"id"`
	}
	sku := fmt.Sprintf("GAL-%d-%d", time.Now().UnixNano(), skus.Add(1))
	s.replicas[0].Do(t, "POST", "/products", map[string]any{
		"sku": sku, "name": "Product " + sku, "price_cents": price, "stock": stock,
	}).Want(t, 201).JSON(t, &p)
	return p.ID
}

type item struct {
	ProductID string `json:"product_id"`
	Qty       int64  `json:"qty"`
}

type order struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Items  []item `json:"items"`
}

func line(productID string, qty int64) map[string]any {
	return map[string]any{"product_id": productID, "qty": qty}
}

func body(customer string, lines ...map[string]any) map[string]any {
	return map[string]any{"customer_id": customer, "items": lines}
}

// send sends one request from any goroutine; unlike Client.Do it reports a
// failure instead of ending the test.
func send(c *apptest.Client, method, path string, b any, header ...string) (*apptest.Response, error) {
	var rd io.Reader
	if b != nil {
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &apptest.Response{Status: res.StatusCode, Header: res.Header, Body: out}, nil
}

// concurrently runs n requests at once, released together, and returns
// their answers in call order.
func concurrently(t *testing.T, n int, do func(i int) (*apptest.Response, error)) []*apptest.Response {
	t.Helper()
	out := make([]*apptest.Response, n)
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			out[i], errs[i] = do(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	return out
}

// code returns the problem code of an error answer, or "".
func code(r *apptest.Response) string {
	var p struct {
		Code string `json:"code"`
	}
	json.Unmarshal(r.Body, &p)
	return p.Code
}

// wantUnavailable fails t unless r is a 503 dependency_unavailable with
// Retry-After.
func wantUnavailable(t *testing.T, what string, r *apptest.Response) {
	t.Helper()
	if r.Status != 503 || code(r) != "dependency_unavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("%s: answered %d %v: %s; want 503 dependency_unavailable with Retry-After", what, r.Status, r.Header, r.Body)
	}
}

// retries sums db_retries_total over the replicas' /metrics.
func (s *stack) retries(t *testing.T) int64 {
	t.Helper()
	var sum int64
	for _, c := range s.replicas {
		res, err := http.Get(c.Base + "/metrics")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "db_retries_total{") {
				f := strings.Fields(l)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				sum += int64(v)
			}
		}
		res.Body.Close()
	}
	return sum
}

// aborts is the cluster's count of transactions aborted by conflicts so
// far: certification failures and brute-force aborts, summed over nodes.
func (s *stack) aborts() (cert, bf int64) {
	return s.cluster.Counter("wsrep_local_cert_failures"), s.cluster.Counter("wsrep_local_bf_aborts")
}

// checkWhole checks, on every node, that the orders database is whole:
// every order has items and every item an order, every key names an order,
// each product's stock plus what live orders hold of it is what it started
// with, and every order in placed exists there with all its items. It also
// checks that every node holds the same orders.
func (s *stack) checkWhole(t *testing.T, initial map[string]int64, placed []order) {
	t.Helper()
	var first string
	for n := 1; n <= galera.Nodes; n++ {
		db := s.cluster.Open(t, n, s.db)
		count := func(query string, args ...any) int64 {
			t.Helper()
			var v int64
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := db.QueryRowContext(ctx, query, args...).Scan(&v); err != nil {
				t.Fatalf("node %d: %s: %v", n, query, err)
			}
			return v
		}
		if v := count(`SELECT COUNT(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)`); v != 0 {
			t.Errorf("node %d: %d orders without items", n, v)
		}
		if v := count(`SELECT COUNT(*) FROM order_items i WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id)`); v != 0 {
			t.Errorf("node %d: %d items without an order", n, v)
		}
		if v := count("SELECT COUNT(*) FROM idempotency_keys k WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = k.target_id)"); v != 0 {
			t.Errorf("node %d: %d idempotency keys name no order", n, v)
		}
		for id, start := range initial {
			pid := uuid.MustParse(id)
			got := count(`SELECT p.stock + COALESCE((SELECT SUM(i.qty) FROM order_items i JOIN orders o ON o.id = i.order_id
				WHERE i.product_id = p.id AND o.status <> 'CANCELED'), 0) FROM products p WHERE p.id = ?`, pid[:])
			if got != start {
				t.Errorf("node %d: product %s: stock + live orders' quantities = %d, want %d", n, id, got, start)
			}
		}
		for _, o := range placed {
			oid := uuid.MustParse(o.ID)
			if count(`SELECT COUNT(*) FROM orders WHERE id = ?`, oid[:]) != 1 {
				t.Errorf("node %d: order %s answered 201 but does not exist", n, o.ID)
				continue
			}
			for _, it := range o.Items {
				pid := uuid.MustParse(it.ProductID)
				if count(`SELECT COUNT(*) FROM order_items WHERE order_id = ? AND product_id = ? AND qty = ?`, oid[:], pid[:], it.Qty) != 1 {
					t.Errorf("node %d: order %s lacks its item %+v", n, o.ID, it)
				}
			}
			if v := count(`SELECT COUNT(*) FROM order_items WHERE order_id = ?`, oid[:]); v != int64(len(o.Items)) {
				t.Errorf("node %d: order %s has %d items, answered with %d", n, o.ID, v, len(o.Items))
			}
		}
		var sum string
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := db.QueryRowContext(ctx, `SELECT CONCAT(
			(SELECT COUNT(*) FROM orders), '/', (SELECT COALESCE(SUM(total_cents), 0) FROM orders), '/',
			(SELECT COUNT(*) FROM order_items), '/', (SELECT COALESCE(SUM(stock), 0) FROM products), '/',
			(SELECT COUNT(*) FROM orders WHERE status = 'CONFIRMED'), '/', (SELECT COUNT(*) FROM orders WHERE status = 'CANCELED'))`).Scan(&sum)
		cancel()
		if err != nil {
			t.Fatalf("node %d: %v", n, err)
		}
		if first == "" {
			first = sum
		} else if sum != first {
			t.Errorf("node %d holds orders/total/items/stock/confirmed/canceled %s, node 1 %s", n, sum, first)
		}
	}
}

// stockOn reads a product's stock on node n.
func (s *stack) stockOn(t *testing.T, n int, id string) int64 {
	t.Helper()
	var v int64
	pid := uuid.MustParse(id)
	s.cluster.QueryRow(t, n, s.db, []any{&v}, "SELECT stock FROM products WHERE id = ?", pid[:])
	return v
}
