// Package webhooks_test proves the order events end to end: the outbox
// written with each change, the feed in commit order, and the webhooks a
// real receiver in the test gets, signed, at least once, in order per
// resource, through receiver outages, several replicas and a replica killed
// with SIGKILL between a commit and its delivery.
package webhooks_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/adapters/webhook"
	"github.com/b2borders/platform/apps/wire/ordersapi"
	"github.com/b2borders/platform/core/events"
	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/dbtest"
)

// stack is customers-api and orders-api replicas on one orders database.
type stack struct {
	t         *testing.T
	customers *apptest.Client
	custURL   string
	dsn       string
	orders    []*apptest.Client
}

// fast is the delivery tuning of the tests: short timeouts and backoff, so
// retries happen within a test's patience.
func fast(r *receiver, maxAttempts int) ordersapi.EventsConfig {
	cfg := ordersapi.EventsConfig{
		PublishInterval: 20 * time.Millisecond,
		Dispatch: events.DispatcherConfig{
			MaxAttempts: maxAttempts,
			Timeout:     2 * time.Second,
			BaseDelay:   20 * time.Millisecond,
			MaxDelay:    200 * time.Millisecond,
			Poll:        20 * time.Millisecond,
		},
	}
	if r != nil {
		cfg.Webhook = &webhook.Config{URL: r.url, Secret: secret}
	}
	return cfg
}

func newStack(t *testing.T) *stack {
	t.Helper()
	cust := apptest.StartCustomers(t)
	return &stack{
		t:         t,
		custURL:   cust.URL,
		customers: &apptest.Client{Base: cust.URL, Token: apptest.OperatorToken(t)},
		dsn:       dbtest.NewDatabase(t),
	}
}

// replica boots one more orders-api on the stack's database; every
// exchange with it is checked against its OpenAPI document.
func (s *stack) replica(cfg ordersapi.EventsConfig) *apptest.Client {
	s.t.Helper()
	return s.replicaWith(apptest.OrdersOptions{Events: cfg})
}

// replicaWith boots one more orders-api with o, on the stack's database.
func (s *stack) replicaWith(o apptest.OrdersOptions) *apptest.Client {
	s.t.Helper()
	o.DSN, o.CustomersURL = s.dsn, s.custURL
	svc := apptest.StartOrders(s.t, o)
	c := &apptest.Client{
		Base:  svc.URL,
		Token: apptest.OperatorToken(s.t),
		HTTP:  &http.Client{Transport: apptest.ValidatingTransport(s.t, httpapi.OrdersOpenAPI)},
	}
	s.orders = append(s.orders, c)
	return c
}

func (s *stack) customer() string {
	s.t.Helper()
	var c struct{ ID string }
	s.customers.Do(s.t, "POST", "/customers", map[string]any{
		"name": "ACME", "email": fmt.Sprintf("ops-%d@acme.example.com", time.Now().UnixNano()),
	}).Want(s.t, http.StatusCreated).JSON(s.t, &c)
	return c.ID
}

func product(t *testing.T, c *apptest.Client, sku string, stock int64) string {
	t.Helper()
	var p struct{ ID string }
	c.Do(t, "POST", "/products", map[string]any{"sku": sku, "name": sku, "price_cents": 100, "stock": stock}).
		Want(t, http.StatusCreated).JSON(t, &p)
	return p.ID
}

func place(t *testing.T, c *apptest.Client, customer string, lines map[string]int64) *apptest.Response {
	t.Helper()
	var items []map[string]any
	for p, q := range lines {
		items = append(items, map[string]any{"product_id": p, "qty": q})
	}
	return c.Do(t, "POST", "/orders", map[string]any{"customer_id": customer, "items": items})
}

func orderID(t *testing.T, r *apptest.Response) string {
	t.Helper()
	var o struct{ ID string }
	r.Want(t, http.StatusCreated).JSON(t, &o)
	return o.ID
}

// eventBody is an event as a webhook sends it.
type eventBody struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Resource struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"resource"`
	Seq        int64           `json:"seq"`
	OccurredAt string          `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// feedEvent is an event as the feed lists it.
type feedEvent struct {
	eventBody
	Delivery struct {
		Status      string  `json:"status"`
		Attempts    int     `json:"attempts"`
		LastError   *string `json:"last_error"`
		DeliveredAt *string `json:"delivered_at"`
	} `json:"delivery"`
}

func (e feedEvent) resource() string { return e.Resource.Type + "/" + e.Resource.ID }

type feedPage struct {
	Data []feedEvent `json:"data"`
	Page struct {
		NextCursor string `json:"next_cursor"`
		HasMore    bool   `json:"has_more"`
		Limit      int    `json:"limit"`
	} `json:"page"`
}

// feed reads the whole feed from after ("" for its start), page by page,
// and returns it with the cursor to poll with next.
func feed(t *testing.T, c *apptest.Client, after, types string) ([]feedEvent, string) {
	t.Helper()
	var all []feedEvent
	for {
		q := url.Values{"limit": {"7"}}
		if after != "" {
			q.Set("after", after)
		}
		if types != "" {
			q.Set("types", types)
		}
		var p feedPage
		c.Do(t, "GET", "/events?"+q.Encode(), nil).Want(t, http.StatusOK).JSON(t, &p)
		all = append(all, p.Data...)
		after = p.Page.NextCursor
		if !p.Page.HasMore {
			return all, after
		}
	}
}

// eventually polls cond until it holds, failing the test after a generous
// bound: other work shares the machine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// allDelivered fails the test unless every event of evs is delivered and
// reached the receiver, and the receiver saw nothing wrong.
func allDelivered(t *testing.T, r *receiver, evs []feedEvent) {
	t.Helper()
	got := map[string]bool{}
	for _, d := range r.accepted() {
		got[d.ID] = true
	}
	for _, e := range evs {
		if e.Delivery.Status != string(events.Delivered) || !got[e.ID] {
			t.Errorf("event %s (%s): %+v, received %v", e.ID, e.Type, e.Delivery, got[e.ID])
		}
	}
	r.check()
}

// settled waits until the feed holds n events and none is pending, and
// returns them.
func settled(t *testing.T, c *apptest.Client, n int) []feedEvent {
	t.Helper()
	var evs []feedEvent
	eventually(t, fmt.Sprintf("the feed holds %d events, none pending", n), func() bool {
		evs, _ = feed(t, c, "", "")
		if len(evs) != n {
			return false
		}
		for _, e := range evs {
			if e.Delivery.Status == string(events.Pending) {
				return false
			}
		}
		return true
	})
	return evs
}
