// Package orchestrator tests the orchestrator end to end: customers-api and
// orders-api booted on fresh MySQL databases, with the orchestrator in
// front of them. Stack is exported for the Lambda runtime test, which runs
// the same services behind the real runtime interface emulator.
package orchestrator

import (
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/b2borders/platform/apps/wire/orchestrator"
	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/dbtest"
)

// Stack is customers-api and orders-api, each on a fresh database, each
// behind a Proxy that records what reaches it and can fail on command.
type Stack struct {
	// CustomersProxy and OrdersProxy stand in front of the services; the
	// orchestrator is pointed at them.
	CustomersProxy *Proxy
	OrdersProxy    *Proxy
	// Customers and Orders talk to the services directly, as an operator.
	Customers *apptest.Client
	Orders    *apptest.Client
	// OrdersDB is orders-api's database, to count what was written.
	OrdersDB *sql.DB
}

// NewStack boots both services.
func NewStack(t testing.TB) *Stack {
	t.Helper()
	return NewStackWith(t, Options{})
}

// Options change how a stack's services run.
type Options struct {
	// ReservationTTL is orders-api's; zero turns expiry off.
	ReservationTTL time.Duration
}

// NewStackWith boots both services with o.
func NewStackWith(t testing.TB, o Options) *Stack {
	t.Helper()
	customers := apptest.StartCustomers(t)
	dsn := dbtest.NewDatabase(t)
	ordersURL := apptest.StartOrders(t, apptest.OrdersOptions{DSN: dsn, CustomersURL: customers.URL, ReservationTTL: o.ReservationTTL}).URL
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	token := apptest.OperatorToken(t)
	return &Stack{
		CustomersProxy: NewProxy(t, customers.URL),
		OrdersProxy:    NewProxy(t, ordersURL),
		Customers:      &apptest.Client{Base: customers.URL, Token: token},
		Orders:         &apptest.Client{Base: ordersURL, Token: token},
		OrdersDB:       db,
	}
}

// Config is an orchestrator's configuration for this stack, on a free port.
func (s *Stack) Config() orchestrator.Config {
	return orchestrator.Config{
		Port:         0,
		CustomersURL: s.CustomersProxy.URL,
		OrdersURL:    s.OrdersProxy.URL,
		Auth:         apptest.Auth,
	}
}

// Customer is a customer as customers-api shows it.
type Customer struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Email string  `json:"email"`
	Phone *string `json:"phone"`
}

var serial atomic.Int64

// NewCustomer registers a customer; phone may be empty.
func (s *Stack) NewCustomer(t testing.TB, name, phone string) Customer {
	t.Helper()
	body := map[string]any{"name": name, "email": fmt.Sprintf("buyer-%d-%d@example.com", time.Now().UnixNano(), serial.Add(1))}
	if phone != "" {
		body["phone"] = phone
	}
	var c Customer
	s.Customers.Do(t, http.MethodPost, "/customers", body).Want(t, http.StatusCreated).JSON(t, &c)
	return c
}

// NewProduct adds a product to the catalogue and returns its id.
func (s *Stack) NewProduct(t testing.TB, priceCents, stock int64) string {
	t.Helper()
	sku := fmt.Sprintf("SKU-%d-%d", time.Now().UnixNano(), serial.Add(1))
	var p struct {
		ID string `json:"id"`
	}
	s.Orders.Do(t, http.MethodPost, "/products", map[string]any{
		"sku": sku, "name": "Product " + sku, "price_cents": priceCents, "stock": stock,
	}).Want(t, http.StatusCreated).JSON(t, &p)
	return p.ID
}

// Stock is a product's stock as orders-api shows it.
func (s *Stack) Stock(t testing.TB, productID string) int64 {
	t.Helper()
	var p struct {
		Stock int64 `json:"stock"`
	}
	s.Orders.Do(t, http.MethodGet, "/products/"+productID, nil).Want(t, http.StatusOK).JSON(t, &p)
	return p.Stock
}

// OrderStatus is an order's status as orders-api shows it.
func (s *Stack) OrderStatus(t testing.TB, orderID string) string {
	t.Helper()
	var o struct {
		Status string `json:"status"`
	}
	s.Orders.Do(t, http.MethodGet, "/orders/"+orderID, nil).Want(t, http.StatusOK).JSON(t, &o)
	return o.Status
}

// OrderRows counts the rows of orders-api's orders table by status.
func (s *Stack) OrderRows(t testing.TB) map[string]int {
	t.Helper()
	rows, err := s.OrdersDB.Query("SELECT status, COUNT(*) FROM orders GROUP BY status")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			t.Fatal(err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Failure is how a Proxy fails a request it was told to fail.
type Failure int

const (
	// Unavailable answers 503 without passing the request on.
	Unavailable Failure = iota + 1
	// LostAnswer passes the request on, then drops the connection instead
	// of answering: the service acted, the caller cannot know.
	LostAnswer
)

// Seen is a request that reached a Proxy.
type Seen struct {
	Method, Path string
	Header       http.Header
}

// Proxy passes requests to a service, recording each, and fails the
// requests whose path ends in FailSuffix while Fail says so.
type Proxy struct {
	URL string

	rp         *httputil.ReverseProxy
	failSuffix string
	failMode   Failure
	failLeft   atomic.Int64

	mu   sync.Mutex
	seen []Seen
}

// NewProxy starts a proxy to target for the life of t.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{rp: httputil.NewSingleHostReverseProxy(u)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p.URL = "http://" + ln.Addr().String()
	return p
}

// Fail makes the next n requests whose path ends in suffix fail as mode
// says; n = 0 stops failing.
func (p *Proxy) Fail(suffix string, mode Failure, n int) {
	p.mu.Lock()
	p.failSuffix, p.failMode = suffix, mode
	p.mu.Unlock()
	p.failLeft.Store(int64(n))
}

// Seen returns the requests that reached the proxy so far.
func (p *Proxy) Seen() []Seen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Seen(nil), p.seen...)
}

// Count counts the requests seen whose method and path match, the path by
// its suffix.
func (p *Proxy) Count(method, suffix string) int {
	n := 0
	for _, s := range p.Seen() {
		if s.Method == method && strings.HasSuffix(s.Path, suffix) {
			n++
		}
	}
	return n
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen = append(p.seen, Seen{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()})
	suffix, mode := p.failSuffix, p.failMode
	p.mu.Unlock()
	if suffix == "" || !strings.HasSuffix(r.URL.Path, suffix) || p.failLeft.Add(-1) < 0 {
		p.rp.ServeHTTP(w, r)
		return
	}
	switch mode {
	case Unavailable:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "unavailable")
	case LostAnswer:
		p.rp.ServeHTTP(discard{header: http.Header{}}, r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

// discard is a response nobody reads.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

// ClosedURL is the URL of a port nothing listens on.
func ClosedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
