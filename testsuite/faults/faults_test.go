// Package faults_test causes database faults for real under a running
// orders-api and checks what its clients see: a server killed or frozen
// under load, a row lock held past the call's time, a deadlock. Each
// fault must be a bounded 503 dependency_unavailable with Retry-After (or,
// for a deadlock, no failure at all), must leave stock and orders whole,
// and must heal without restarting the service.
//
// The servers that are killed or frozen are private mariadbd processes
// (dbtest.StartServer); customers-api runs on the shared test server.
package faults_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/dbtest"
)

// TestMain keeps the services' warnings about the faults out of the test
// output.
func TestMain(m *testing.M) {
	slog.SetDefault(apptest.Logger())
	os.Exit(m.Run())
}

// dbTimeout is the services' DB_TIMEOUT in these tests; every fault must be
// answered within it and a second of slack.
const (
	dbTimeout = 2 * time.Second
	slack     = time.Second
)

// stack is customers-api and one orders-api whose database is dsn.
type stack struct {
	t         *testing.T
	orders    string
	customers string
	token     string
	db        *sql.DB
	// clients check each answer against its service's OpenAPI document.
	clients map[string]*http.Client
}

func newStack(t *testing.T, dsn string) *stack {
	t.Helper()
	customers := apptest.StartCustomers(t)
	orders := apptest.StartOrders(t, apptest.OrdersOptions{DSN: dsn, CustomersURL: customers.URL, DBTimeout: dbTimeout})
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &stack{
		t: t, orders: orders.URL, customers: customers.URL, token: apptest.OperatorToken(t), db: db,
		clients: map[string]*http.Client{
			orders.URL:    {Timeout: dbTimeout + 10*time.Second, Transport: apptest.ValidatingTransport(t, httpapi.OrdersOpenAPI)},
			customers.URL: {Timeout: dbTimeout + 10*time.Second, Transport: apptest.ValidatingTransport(t, httpapi.CustomersOpenAPI)},
		},
	}
}

// answer is one response as a client saw it.
type answer struct {
	status     int
	code       string
	retryAfter string
	id         string
	took       time.Duration
	err        error
}

// send makes one request without failing the test, so that load loops can
// run it from any goroutine.
func (s *stack) send(base, method, path string, body any, header ...string) answer {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	start := time.Now()
	res, err := s.clients[base].Do(req)
	a := answer{took: time.Since(start), err: err}
	if err != nil {
		return a
	}
	defer res.Body.Close()
	var out struct {
		ID   string `json:"id"`
		Code string `json:"code"`
	}
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &out)
	a.status, a.code, a.id, a.retryAfter = res.StatusCode, out.Code, out.ID, res.Header.Get("Retry-After")
	return a
}

// must sends a request that must succeed with want and returns its id.
func (s *stack) must(base, method, path string, body any, want int) string {
	s.t.Helper()
	a := s.send(base, method, path, body)
	if a.err != nil || a.status != want {
		s.t.Fatalf("%s %s: %d %s %v, want %d", method, path, a.status, a.code, a.err, want)
	}
	return a.id
}

func (s *stack) customer() string {
	return s.must(s.customers, "POST", "/customers",
		map[string]any{"name": "ACME", "email": fmt.Sprintf("ops-%d@acme.test", time.Now().UnixNano())}, 201)
}

func (s *stack) product(sku string, stock int64) string {
	return s.must(s.orders, "POST", "/products", map[string]any{"sku": sku, "name": sku, "price_cents": 100, "stock": stock}, 201)
}

func order(customer string, qty int64, products ...string) map[string]any {
	items := make([]map[string]any, len(products))
	for i, p := range products {
		items[i] = map[string]any{"product_id": p, "qty": qty}
	}
	return map[string]any{"customer_id": customer, "items": items}
}

// wantUnavailable fails t unless a is a 503 dependency_unavailable with
// Retry-After, answered within the bound.
func wantUnavailable(t *testing.T, what string, a answer) {
	t.Helper()
	if a.err != nil || a.status != http.StatusServiceUnavailable || a.code != "dependency_unavailable" || a.retryAfter == "" {
		t.Errorf("%s: status %d, code %q, Retry-After %q, error %v; want 503 dependency_unavailable with Retry-After",
			what, a.status, a.code, a.retryAfter, a.err)
	}
	if a.took > dbTimeout+slack {
		t.Errorf("%s took %v, want at most %v", what, a.took, dbTimeout+slack)
	}
}

// waitReady polls /ready until it answers want, for at most limit.
func (s *stack) waitReady(want int, limit time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		a := s.send(s.orders, "GET", "/ready", nil)
		if a.status == want {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("/ready answered %d %v for %v, want %d", a.status, a.err, limit, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkWhole checks, in the database, that every order has its one item
// per product, that every order a client was told was placed exists, and
// that stock plus the units of every live order is what each product
// started with.
func (s *stack) checkWhole(initial map[string]int64, placed []string) {
	s.t.Helper()
	ctx := s.t.Context()
	var broken int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders o
		WHERE (SELECT COUNT(*) FROM order_items i WHERE i.order_id = o.id) = 0
		   OR o.total_cents <> (SELECT SUM(subtotal_cents) FROM order_items i WHERE i.order_id = o.id)`).Scan(&broken); err != nil {
		s.t.Fatal(err)
	}
	if broken > 0 {
		s.t.Errorf("%d orders without their items or with a wrong total", broken)
	}
	for _, id := range placed {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders WHERE id = UNHEX(REPLACE(?, '-', ''))`, id).Scan(&n); err != nil {
			s.t.Fatal(err)
		}
		if n != 1 {
			s.t.Errorf("order %s was answered 201 but is not stored", id)
		}
	}
	for id, start := range initial {
		var stock, taken int64
		if err := s.db.QueryRowContext(ctx, `SELECT p.stock, COALESCE((SELECT SUM(i.qty) FROM order_items i
			JOIN orders o ON o.id = i.order_id WHERE i.product_id = p.id AND o.status <> 'CANCELED'), 0)
			FROM products p WHERE p.id = UNHEX(REPLACE(?, '-', ''))`, id).Scan(&stock, &taken); err != nil {
			s.t.Fatal(err)
		}
		if stock+taken != start || stock < 0 {
			s.t.Errorf("product %s: stock %d + %d units ordered, want %d in all", id, stock, taken, start)
		}
	}
}

// load places one-unit orders from n clients until stop is closed, each
// with a key of its own, and returns every answer.
func (s *stack) load(n int, customer, product string, stop <-chan struct{}) func() []answer {
	var mu sync.Mutex
	var all []answer
	var wg sync.WaitGroup
	for c := range n {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a := s.send(s.orders, "POST", "/orders", order(customer, 1, product), "Idempotency-Key", fmt.Sprintf("load-%d-%d", c, i))
				mu.Lock()
				all = append(all, a)
				mu.Unlock()
				if a.status != http.StatusCreated {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	return func() []answer {
		wg.Wait()
		return all
	}
}

// tally checks each answer of a load is a 201 or a bounded 503, and
// returns the ids placed and how many 503s there were.
func tally(t *testing.T, answers []answer) (placed []string, unavailable int) {
	t.Helper()
	for _, a := range answers {
		switch a.status {
		case http.StatusCreated:
			placed = append(placed, a.id)
		case http.StatusServiceUnavailable:
			unavailable++
			wantUnavailable(t, "an order placed while the database was down", a)
		default:
			t.Errorf("an order placed under the fault: status %d, code %q, error %v; want 201 or 503", a.status, a.code, a.err)
		}
	}
	return placed, unavailable
}

func TestDatabaseKilledUnderLoad(t *testing.T) {
	srv := dbtest.StartServer(t)
	s := newStack(t, srv.NewDatabase(t))
	customer, product := s.customer(), s.product("K", 100_000)

	stop := make(chan struct{})
	wait := s.load(4, customer, product, stop)
	time.Sleep(time.Second)
	srv.Kill(t)
	time.Sleep(dbTimeout + slack)
	wantUnavailable(t, "GET /products/{id} while the database is down", s.send(s.orders, "GET", "/products/"+product, nil))
	s.waitReady(http.StatusServiceUnavailable, 5*time.Second)
	srv.Restart(t)
	s.waitReady(http.StatusOK, 30*time.Second)
	time.Sleep(time.Second)
	close(stop)

	placed, unavailable := tally(t, wait())
	if unavailable == 0 {
		t.Error("no order was refused while the database was down")
	}
	// The load kept running after the restart: the service recovered by
	// itself.
	s.must(s.orders, "POST", "/orders", order(customer, 1, product), 201)
	s.checkWhole(map[string]int64{product: 100_000}, placed)
	t.Logf("%d orders placed, %d answered 503", len(placed), unavailable)
}

func TestDatabaseFrozen(t *testing.T) {
	srv := dbtest.StartServer(t)
	s := newStack(t, srv.NewDatabase(t))
	customer, product := s.customer(), s.product("F", 1000)
	s.must(s.orders, "POST", "/orders", order(customer, 1, product), 201)

	srv.Freeze(t)
	var wg sync.WaitGroup
	answers := make([]answer, 6)
	for i := range answers {
		wg.Go(func() {
			if i%2 == 0 {
				answers[i] = s.send(s.orders, "POST", "/orders", order(customer, 1, product))
			} else {
				answers[i] = s.send(s.orders, "GET", "/products/"+product, nil)
			}
		})
	}
	wg.Wait()
	for i, a := range answers {
		wantUnavailable(t, fmt.Sprintf("request %d to a frozen database", i), a)
	}
	ready := s.send(s.orders, "GET", "/ready", nil)
	if ready.status != http.StatusServiceUnavailable || ready.took > 3*time.Second {
		t.Errorf("/ready on a frozen database: %d after %v, want 503 within 3s", ready.status, ready.took)
	}
	srv.Thaw(t)
	s.waitReady(http.StatusOK, 10*time.Second)
	id := s.must(s.orders, "POST", "/orders", order(customer, 1, product), 201)
	s.checkWhole(map[string]int64{product: 1000}, []string{id})
}

// holdRow locks a product row in a transaction of the test's own and
// returns the function that ends it.
func holdRow(t *testing.T, db *sql.DB, product string) (release func()) {
	t.Helper()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE products SET version = version + 1 WHERE id = UNHEX(REPLACE(?, '-', ''))`, product); err != nil {
		t.Fatal(err)
	}
	return func() { tx.Rollback() }
}

func TestLockHeldPastTheTimeout(t *testing.T) {
	dbtest.RequireInnoDB(t)
	s := newStack(t, dbtest.NewDatabase(t))
	customer, product := s.customer(), s.product("L", 10)

	release := holdRow(t, s.db, product)
	a := s.send(s.orders, "POST", "/orders", order(customer, 2, product), "Idempotency-Key", "held")
	release()
	wantUnavailable(t, "an order on a row locked past DB_TIMEOUT", a)
	var orders, keys int
	if err := s.db.QueryRow(`SELECT (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM idempotency_keys)`).Scan(&orders, &keys); err != nil {
		t.Fatal(err)
	}
	if orders != 0 || keys != 0 {
		t.Errorf("the refused order left %d orders and %d keys, want none", orders, keys)
	}
	// The same key, once the row is free, places the order.
	again := s.send(s.orders, "POST", "/orders", order(customer, 2, product), "Idempotency-Key", "held")
	if again.status != http.StatusCreated {
		t.Fatalf("the retry: %d %s %v, want 201", again.status, again.code, again.err)
	}
	s.checkWhole(map[string]int64{product: 10}, []string{again.id})
}

// TestDeadlockIsRetried makes a placement the victim of a real deadlock:
// the test's transaction, heavy with rows so that InnoDB rolls back the
// placement instead, holds the second product, waits until the placement
// holds the first and waits for the second, then asks for the first. The
// client must see nothing of it but a 201.
func TestDeadlockIsRetried(t *testing.T) {
	srv := dbtest.StartServer(t)
	s := newStack(t, srv.NewDatabase(t))
	customer := s.customer()
	first, second := s.product("D1", 10), s.product("D2", 10) // UUIDv7: first < second, the lock order
	ctx := t.Context()
	deadlocks := func() int64 {
		var name string
		var n int64
		if err := s.db.QueryRowContext(ctx, `SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'`).Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := deadlocks()

	if _, err := s.db.ExecContext(ctx, `CREATE TABLE ballast (n INT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	values := make([]string, 200)
	for i := range values {
		values[i] = fmt.Sprintf("(%d)", i)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ballast VALUES `+strings.Join(values, ",")); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE products SET version = version + 1 WHERE id = UNHEX(REPLACE(?, '-', ''))`, second); err != nil {
		t.Fatal(err)
	}

	done := make(chan answer, 1)
	go func() { done <- s.send(s.orders, "POST", "/orders", order(customer, 3, first, second)) }()
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		var waiting int
		if err := s.db.QueryRowContext(waitCtx, `SELECT COUNT(*) FROM information_schema.innodb_lock_waits`).Scan(&waiting); err != nil {
			t.Fatalf("waiting for the placement to block: %v", err)
		}
		if waiting > 0 {
			break
		}
		// InnoDB refreshes these tables only when they were not read for
		// 100 ms.
		time.Sleep(150 * time.Millisecond)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE products SET version = version + 1 WHERE id = UNHEX(REPLACE(?, '-', ''))`, first); err != nil {
		t.Fatalf("the test's transaction lost the deadlock: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.err != nil || a.status != http.StatusCreated {
		t.Fatalf("the deadlocked placement: %d %s %v, want 201", a.status, a.code, a.err)
	}
	if n := deadlocks() - before; n != 1 {
		t.Errorf("%d deadlocks, want the one the test made", n)
	}
	s.checkWhole(map[string]int64{first: 10, second: 10}, []string{a.id})
}
