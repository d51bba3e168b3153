package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/dbtest"
)

// ordersStack is customers-api and orders-api, each on a fresh database.
// Every exchange with either is checked against its OpenAPI document.
type ordersStack struct {
	customersSvc apptest.Service
	// customers and orders act as an operator.
	customers *apptest.Client
	orders    *apptest.Client
	// ordersDSN is orders-api's database, for more replicas on it.
	ordersDSN string
	// ttl is every orders-api replica's reservation TTL; zero is off.
	ttl time.Duration
	// replicas counts the orders-api replicas booted.
	replicas int
}

// ordersClock is a service clock a test can move forward, so an order can
// be taken past its cancel window without waiting for it.
type ordersClock struct{ offset atomic.Int64 }

func (c *ordersClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *ordersClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// newOrdersStack boots both services; clock, when not nil, is orders-api's.
func newOrdersStack(t *testing.T, clock *ordersClock) *ordersStack {
	t.Helper()
	return newExpiringStack(t, clock, 0)
}

// newExpiringStack boots both services, orders-api with reservations that
// expire after ttl (zero: never).
func newExpiringStack(t *testing.T, clock *ordersClock, ttl time.Duration) *ordersStack {
	t.Helper()
	s := &ordersStack{customersSvc: apptest.StartCustomers(t), ordersDSN: dbtest.NewDatabase(t), ttl: ttl}
	s.customers = &apptest.Client{
		Base:  s.customersSvc.URL,
		Token: apptest.OperatorToken(t),
		HTTP:  &http.Client{Transport: apptest.ValidatingTransport(t, httpapi.CustomersOpenAPI)},
	}
	s.orders = s.bootOrders(t, clock)
	return s
}

// bootOrders starts one more orders-api replica on the stack's database and
// returns an operator client for it. On a cluster (TEST_MYSQL_NODES) each
// replica writes through another node.
func (s *ordersStack) bootOrders(t *testing.T, clock *ordersClock) *apptest.Client {
	t.Helper()
	o := apptest.OrdersOptions{DSN: dbtest.ReplicaDSN(t, s.ordersDSN, s.replicas), CustomersURL: s.customersSvc.URL, ReservationTTL: s.ttl}
	s.replicas++
	if clock != nil {
		o.Now = clock.Now
	}
	url := apptest.StartOrders(t, o).URL
	return &apptest.Client{
		Base:  url,
		Token: apptest.OperatorToken(t),
		HTTP:  &http.Client{Transport: apptest.ValidatingTransport(t, httpapi.OrdersOpenAPI)},
	}
}

type ordersProduct struct {
	ID         string `json:"id"`
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Stock      int64  `json:"stock"`
	Version    int64  `json:"version"`
	CreatedAt  string `json:"created_at"`
	UpdatedAt  string `json:"updated_at"`
}

type ordersItem struct {
	ProductID      string `json:"product_id"`
	Qty            int64  `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	SubtotalCents  int64  `json:"subtotal_cents"`
}

type ordersOrder struct {
	ID          string       `json:"id"`
	CustomerID  string       `json:"customer_id"`
	Status      string       `json:"status"`
	TotalCents  int64        `json:"total_cents"`
	Items       []ordersItem `json:"items"`
	CreatedAt   string       `json:"created_at"`
	UpdatedAt   string       `json:"updated_at"`
	ConfirmedAt *string      `json:"confirmed_at"`
	CanceledAt  *string      `json:"canceled_at"`
	ExpiresAt   *string      `json:"expires_at"`
}

type ordersMovement struct {
	ID        string  `json:"id"`
	ProductID string  `json:"product_id"`
	Delta     int64   `json:"delta"`
	Kind      string  `json:"kind"`
	Reason    string  `json:"reason"`
	OrderID   *string `json:"order_id"`
	Actor     string  `json:"actor"`
	RequestID *string `json:"request_id"`
	CreatedAt string  `json:"created_at"`
}

type ordersEvent struct {
	ID        string  `json:"id"`
	OrderID   string  `json:"order_id"`
	Type      string  `json:"type"`
	Actor     string  `json:"actor"`
	RequestID *string `json:"request_id"`
	CreatedAt string  `json:"created_at"`
}

// movements lists a product's movements, newest first.
func (s *ordersStack) movements(t *testing.T, productID string) []ordersMovement {
	t.Helper()
	return ordersAll(t, s.orders, "/products/"+productID+"/movements", 100, func(m ordersMovement) string { return m.ID })
}

// events lists an order's events, newest first.
func (s *ordersStack) events(t *testing.T, orderID string) []ordersEvent {
	t.Helper()
	return ordersAll(t, s.orders, "/orders/"+orderID+"/events", 100, func(e ordersEvent) string { return e.ID })
}

// checkLedger fails t unless every product's stock is the sum of its
// movements, as the API lists them. The race tests end with it.
func (s *ordersStack) checkLedger(t *testing.T) {
	t.Helper()
	for _, p := range ordersAll(t, s.orders, "/products", 100, func(p ordersProduct) string { return p.ID }) {
		var sum int64
		for _, m := range s.movements(t, p.ID) {
			sum += m.Delta
		}
		if sum != p.Stock {
			t.Errorf("ledger: product %s has stock %d, its movements add up to %d", p.ID, p.Stock, sum)
		}
	}
}

type ordersPage[T any] struct {
	Data []T `json:"data"`
	Page struct {
		NextCursor *string `json:"next_cursor"`
		HasMore    bool    `json:"has_more"`
		Limit      int     `json:"limit"`
	} `json:"page"`
}

type ordersShortage struct {
	ProductID string `json:"product_id"`
	Available int64  `json:"available"`
	Requested int64  `json:"requested"`
}

// ordersLine is an order line as a request sends it.
func ordersLine(productID string, qty int64) map[string]any {
	return map[string]any{"product_id": productID, "qty": qty}
}

func ordersBody(customerID string, lines ...map[string]any) map[string]any {
	return map[string]any{"customer_id": customerID, "items": lines}
}

func (s *ordersStack) newCustomer(t *testing.T) string {
	t.Helper()
	var c struct {
		ID string `json:"id"`
	}
	s.customers.Do(t, "POST", "/customers", map[string]any{
		"name": "Buyer " + t.Name(), "email": fmt.Sprintf("buyer-%d@example.com", time.Now().UnixNano()),
	}).Want(t, 201).JSON(t, &c)
	return c.ID
}

var ordersSKUs atomic.Int64

func (s *ordersStack) newProduct(t *testing.T, price, stock int64) ordersProduct {
	t.Helper()
	return ordersCreateProduct(t, s.orders, fmt.Sprintf("SKU-%d", ordersSKUs.Add(1)), price, stock)
}

func ordersCreateProduct(t *testing.T, c *apptest.Client, sku string, price, stock int64) ordersProduct {
	t.Helper()
	var p ordersProduct
	c.Do(t, "POST", "/products", map[string]any{
		"sku": sku, "name": "Product " + sku, "price_cents": price, "stock": stock,
	}).Want(t, 201).JSON(t, &p)
	return p
}

func (s *ordersStack) product(t *testing.T, id string) ordersProduct {
	t.Helper()
	var p ordersProduct
	s.orders.Do(t, "GET", "/products/"+id, nil).Want(t, 200).JSON(t, &p)
	return p
}

func (s *ordersStack) stock(t *testing.T, id string) int64 {
	t.Helper()
	return s.product(t, id).Stock
}

func (s *ordersStack) order(t *testing.T, id string) ordersOrder {
	t.Helper()
	var o ordersOrder
	s.orders.Do(t, "GET", "/orders/"+id, nil).Want(t, 200).JSON(t, &o)
	return o
}

func (s *ordersStack) place(t *testing.T, body map[string]any, header ...string) ordersOrder {
	t.Helper()
	var o ordersOrder
	s.orders.Do(t, "POST", "/orders", body, header...).Want(t, 201).JSON(t, &o)
	return o
}

// ordersAll walks every page of a list, failing on a repeated id.
func ordersAll[T any](t *testing.T, c *apptest.Client, path string, limit int, id func(T) string) []T {
	t.Helper()
	var out []T
	seen := map[string]bool{}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	next := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("%s: the pages never end", path)
		}
		var p ordersPage[T]
		c.Do(t, "GET", next, nil).Want(t, 200).JSON(t, &p)
		if p.Page.Limit != limit || len(p.Data) > limit {
			t.Fatalf("%s: page of %d with limit %d, asked %d", next, len(p.Data), p.Page.Limit, limit)
		}
		for _, v := range p.Data {
			if seen[id(v)] {
				t.Fatalf("%s: %s appears on two pages", path, id(v))
			}
			seen[id(v)] = true
		}
		out = append(out, p.Data...)
		if !p.Page.HasMore {
			if p.Page.NextCursor != nil {
				t.Fatalf("%s: last page has a next cursor", path)
			}
			return out
		}
		if p.Page.NextCursor == nil || len(p.Data) != limit {
			t.Fatalf("%s: has_more with %d rows and cursor %v", path, len(p.Data), p.Page.NextCursor)
		}
		next = fmt.Sprintf("%s%slimit=%d&cursor=%s", path, sep, limit, *p.Page.NextCursor)
	}
}

func (s *ordersStack) ordersOf(t *testing.T, customerID string) []ordersOrder {
	t.Helper()
	return ordersAll(t, s.orders, "/orders?customer_id="+customerID, 100, func(o ordersOrder) string { return o.ID })
}

// ordersWantFields checks that a 400 names exactly the given fields.
func ordersWantFields(t *testing.T, r *apptest.Response, fields ...string) {
	t.Helper()
	p := wantProblem(t, r, 400, "validation_failed")
	var got []string
	for _, f := range p.Errors {
		got = append(got, f.Field)
	}
	slices.Sort(got)
	want := slices.Clone(fields)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("field errors %v, want %v: %s", got, want, r.Body)
	}
}

// ordersSend sends one request from any goroutine: unlike Client.Do it
// reports a failure instead of ending the test.
func ordersSend(c *apptest.Client, method, path string, body any, header ...string) (*apptest.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
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
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &apptest.Response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// ordersConcurrently runs n requests at once, released together, and
// returns their answers in call order.
func ordersConcurrently(t *testing.T, n int, send func(i int) (*apptest.Response, error)) []*apptest.Response {
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
			out[i], errs[i] = send(i)
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

// ordersCode returns the problem code of an error answer, or "".
func ordersCode(r *apptest.Response) string {
	var p struct {
		Code string `json:"code"`
	}
	json.Unmarshal(r.Body, &p)
	return p.Code
}
