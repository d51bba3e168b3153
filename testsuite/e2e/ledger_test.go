package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/testsuite/apptest"
)

func TestStockAdjustmentsAndMovements(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders
	p := s.newProduct(t, 100, 10)
	adjust := func(body any, header ...string) *apptest.Response {
		return c.Do(t, "POST", "/products/"+p.ID+"/stock-adjustments", body, header...)
	}

	var got ordersProduct
	res := adjust(map[string]any{"delta": -3, "reason": " damaged "}, "X-Request-ID", "req-adjust-1").Want(t, 200)
	res.JSON(t, &got)
	if got.Stock != 7 || got.Version != 2 || res.Header.Get("ETag") != `"2"` {
		t.Fatalf("after -3: %+v, ETag %q", got, res.Header.Get("ETag"))
	}
	adjust(map[string]any{"delta": 5, "reason": "recount"}).Want(t, 200).JSON(t, &got)
	if got.Stock != 12 {
		t.Fatalf("after +5: stock %d, want 12", got.Stock)
	}

	// Every failure changes nothing.
	ordersWantFields(t, adjust(map[string]any{}), "delta", "reason")
	ordersWantFields(t, adjust(map[string]any{"delta": 0, "reason": "none"}), "delta")
	ordersWantFields(t, adjust(map[string]any{"delta": 1_000_000_001, "reason": "many"}), "delta")
	ordersWantFields(t, adjust(map[string]any{"delta": "3", "reason": "text"}), "delta")
	ordersWantFields(t, adjust(map[string]any{"delta": 1.5, "reason": "half"}), "delta")
	ordersWantFields(t, adjust(map[string]any{"delta": 1, "reason": "   "}), "reason")
	ordersWantFields(t, adjust(map[string]any{"delta": 1, "reason": strings.Repeat("r", 201)}), "reason")
	ordersWantFields(t, adjust(map[string]any{"delta": 1, "reason": "a\u0007b"}), "reason")
	ordersWantFields(t, adjust(map[string]any{"delta": 1, "reason": "x", "why": "y"}), "why")
	wantProblem(t, adjust(nil), 400, "validation_failed")
	short := wantProblem(t, adjust(map[string]any{"delta": -13, "reason": "lost"}), 409, "insufficient_stock")
	if d, _ := short.Details.([]any); len(d) != 1 || fmt.Sprint(d[0]) != fmt.Sprintf("map[available:12 product_id:%s requested:13]", p.ID) {
		t.Fatalf("details %v", short.Details)
	}
	wantProblem(t, c.Do(t, "POST", "/products/"+uuid.NewString()+"/stock-adjustments", map[string]any{"delta": 1, "reason": "x"}), 404, "not_found")
	wantProblem(t, c.Do(t, "POST", "/products/nope/stock-adjustments", map[string]any{"delta": 1, "reason": "x"}), 404, "not_found")
	if now := s.product(t, p.ID); now.Stock != 12 || now.Version != 3 {
		t.Fatalf("refused adjustments changed the product: %+v", now)
	}

	// A PATCH of the stock still needs a matching If-Match, and writes the
	// difference.
	wantProblem(t, c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"stock": 1}, "If-Match", `"2"`), 412, "precondition_failed")
	c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"stock": 20}, "If-Match", `"3"`, "X-Request-ID", "req-set").Want(t, 200)

	// The service token's changes are the service's.
	svc := &apptest.Client{Base: c.Base, Token: apptest.ServiceToken, HTTP: c.HTTP}
	svc.Do(t, "POST", "/products/"+p.ID+"/stock-adjustments", map[string]any{"delta": 1, "reason": "return"}).Want(t, 200)

	ms := s.movements(t, p.ID)
	type row struct {
		kind   string
		delta  int64
		actor  string
		reason string
	}
	var rows []row
	for _, m := range ms {
		rows = append(rows, row{m.Kind, m.Delta, m.Actor, m.Reason})
		if m.OrderID != nil || m.ProductID != p.ID {
			t.Fatalf("movement %+v", m)
		}
	}
	want := []row{
		{"adjusted", 1, "service", "return"},
		{"set", 8, "operator@test", "stock set to 20"},
		{"adjusted", 5, "operator@test", "recount"},
		{"adjusted", -3, "operator@test", "damaged"},
		{"created", 10, "operator@test", "initial stock"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("movements\n%v\nwant\n%v", rows, want)
	}
	if r := ms[3].RequestID; r == nil || *r != "req-adjust-1" {
		t.Fatalf("request id %v, want req-adjust-1", r)
	}
	if ms[4].RequestID == nil || *ms[4].RequestID == "" {
		t.Fatal("the creation's movement has no request id")
	}

	// Paged like every list; an unknown product is 404; a forged cursor 400.
	if n := len(ordersAll(t, c, "/products/"+p.ID+"/movements", 2, func(m ordersMovement) string { return m.ID })); n != 5 {
		t.Fatalf("%d movements over pages of 2, want 5", n)
	}
	wantProblem(t, c.Do(t, "GET", "/products/"+uuid.NewString()+"/movements", nil), 404, "not_found")
	ordersWantFields(t, c.Do(t, "GET", "/products/"+p.ID+"/movements?cursor=forged", nil), "cursor")
	ordersWantFields(t, c.Do(t, "GET", "/products/"+p.ID+"/movements?limit=0", nil), "limit")
	s.checkLedger(t)
}

func TestConcurrentAdjustmentsAndOrders(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	p := s.newProduct(t, 100, 20)
	customer := s.newCustomer(t)
	answers := ordersConcurrently(t, 40, func(i int) (*apptest.Response, error) {
		switch i % 3 {
		case 0:
			return ordersSend(s.orders, "POST", "/orders", ordersBody(customer, ordersLine(p.ID, 2)))
		case 1:
			return ordersSend(s.orders, "POST", "/products/"+p.ID+"/stock-adjustments", map[string]any{"delta": -3, "reason": "shrink"})
		}
		return ordersSend(s.orders, "POST", "/products/"+p.ID+"/stock-adjustments", map[string]any{"delta": 2, "reason": "restock"})
	})
	want := int64(20)
	for i, r := range answers {
		switch {
		case r.Status == 201:
			want -= 2
		case r.Status == 200 && i%3 == 1:
			want -= 3
		case r.Status == 200:
			want += 2
		case r.Status == 409 && ordersCode(r) == "insufficient_stock" && i%3 != 2:
		default:
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
	}
	if got := s.stock(t, p.ID); got != want || got < 0 {
		t.Fatalf("stock %d, want %d", got, want)
	}
	s.checkLedger(t)
}

func TestOrderHistory(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	p := s.newProduct(t, 100, 10)
	o := s.place(t, ordersBody(s.newCustomer(t), ordersLine(p.ID, 4)), "X-Request-ID", "req-place")
	if o.ExpiresAt != nil {
		t.Fatalf("expires_at %v with expiry off", *o.ExpiresAt)
	}
	svc := &apptest.Client{Base: s.orders.Base, Token: apptest.ServiceToken, HTTP: s.orders.HTTP}
	svc.Do(t, "POST", "/orders/"+o.ID+"/confirm", nil, "X-Idempotency-Key", "k", "X-Request-ID", "req-confirm").Want(t, 200)
	s.orders.Do(t, "POST", "/orders/"+o.ID+"/confirm", nil, "X-Idempotency-Key", "k").Want(t, 200)
	s.orders.Do(t, "POST", "/orders/"+o.ID+"/cancel", nil, "X-Request-ID", "req-cancel").Want(t, 200)
	s.orders.Do(t, "POST", "/orders/"+o.ID+"/cancel", nil).Want(t, 200)

	evs := s.events(t, o.ID)
	var got []string
	for _, e := range evs {
		rid := "<nil>"
		if e.RequestID != nil {
			rid = *e.RequestID
		}
		got = append(got, e.Type+" "+e.Actor+" "+rid)
		if e.OrderID != o.ID {
			t.Fatalf("event %+v", e)
		}
	}
	want := []string{"canceled operator@test req-cancel", "confirmed service req-confirm", "placed operator@test req-place"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("events %v, want %v", got, want)
	}
	var kinds []string
	for _, m := range s.movements(t, p.ID) {
		if m.OrderID != nil && *m.OrderID == o.ID {
			kinds = append(kinds, fmt.Sprint(m.Kind, m.Delta))
		}
	}
	if strings.Join(kinds, ",") != "canceled4,placed-4" {
		t.Fatalf("the order's movements: %v", kinds)
	}
	wantProblem(t, s.orders.Do(t, "GET", "/orders/"+uuid.NewString()+"/events", nil), 404, "not_found")
	ordersWantFields(t, s.orders.Do(t, "GET", "/orders/"+o.ID+"/events?limit=101", nil), "limit")
	ordersWantFields(t, s.orders.Do(t, "GET", "/orders?status=GONE", nil), "status")
	s.checkLedger(t)
}

// waitExpired polls an order until it is EXPIRED, for at most a minute
// (the machine is shared; the sweep runs every second).
func (s *ordersStack) waitExpired(t *testing.T, c *apptest.Client, id string) ordersOrder {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var o ordersOrder
		c.Do(t, "GET", "/orders/"+id, nil).Want(t, 200).JSON(t, &o)
		if o.Status == "EXPIRED" {
			return o
		}
		if o.Status != "CREATED" || time.Now().After(deadline) {
			t.Fatalf("order %s is %s, want EXPIRED within a minute of placing", id, o.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReservationExpires(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	s := newExpiringStack(t, nil, ttl)
	p := s.newProduct(t, 100, 10)
	customer := s.newCustomer(t)
	o := s.place(t, ordersBody(customer, ordersLine(p.ID, 4)))
	created, _ := time.Parse(time.RFC3339Nano, o.CreatedAt)
	if o.ExpiresAt == nil {
		t.Fatal("a CREATED order has no expires_at")
	}
	if at, err := time.Parse(time.RFC3339Nano, *o.ExpiresAt); err != nil || !at.Equal(created.Add(ttl)) {
		t.Fatalf("expires_at %s, want created_at %s + %s", *o.ExpiresAt, o.CreatedAt, ttl)
	}
	kept := s.place(t, ordersBody(customer, ordersLine(p.ID, 1)))
	confirmed := s.orders.Do(t, "POST", "/orders/"+kept.ID+"/confirm", nil, "X-Idempotency-Key", "keep").Want(t, 200)
	var k ordersOrder
	confirmed.JSON(t, &k)
	if k.ExpiresAt != nil {
		t.Fatalf("a CONFIRMED order shows expires_at %s", *k.ExpiresAt)
	}
	if s.stock(t, p.ID) != 5 {
		t.Fatalf("stock %d while both orders hold it, want 5", s.stock(t, p.ID))
	}

	got := s.waitExpired(t, s.orders, o.ID)
	if got.ExpiresAt != nil {
		t.Fatalf("an EXPIRED order shows expires_at %s", *got.ExpiresAt)
	}
	if st := s.stock(t, p.ID); st != 9 {
		t.Fatalf("stock %d after the expiry, want 9: the expired order's 4 back, the confirmed order's 1 kept", st)
	}
	if s.order(t, kept.ID).Status != "CONFIRMED" {
		t.Fatal("the confirmed order did not stay CONFIRMED")
	}
	p409 := wantProblem(t, s.orders.Do(t, "POST", "/orders/"+o.ID+"/confirm", nil, "X-Idempotency-Key", "late"), 409, "invalid_transition")
	if !strings.Contains(p409.Detail, "EXPIRED") {
		t.Fatalf("detail %q does not name the state", p409.Detail)
	}
	wantProblem(t, s.orders.Do(t, "POST", "/orders/"+o.ID+"/cancel", nil), 409, "invalid_transition")
	expired := ordersAll(t, s.orders, "/orders?status=EXPIRED", 10, func(o ordersOrder) string { return o.ID })
	if len(expired) != 1 || expired[0].ID != o.ID {
		t.Fatalf("GET /orders?status=EXPIRED: %d orders", len(expired))
	}
	evs := s.events(t, o.ID)
	if len(evs) != 2 || evs[0].Type != "expired" || evs[0].Actor != "service" || evs[0].RequestID != nil {
		t.Fatalf("events %+v, want expired by the service without a request id, then placed", evs)
	}
	s.checkLedger(t)
}

// TestReservationsExpireOnTwoReplicas: two replicas sweep the same
// database; every order placed through either expires once, and all the
// stock comes back.
func TestReservationsExpireOnTwoReplicas(t *testing.T) {
	t.Parallel()
	s := newExpiringStack(t, nil, 2*time.Second)
	second := s.bootOrders(t, nil)
	p := s.newProduct(t, 100, 100)
	customer := s.newCustomer(t)
	var ids []string
	for i, c := range []*apptest.Client{s.orders, second, s.orders, second, s.orders, second} {
		var o ordersOrder
		c.Do(t, "POST", "/orders", ordersBody(customer, ordersLine(p.ID, int64(i+1)))).Want(t, 201).JSON(t, &o)
		ids = append(ids, o.ID)
	}
	for i, id := range ids {
		c := s.orders
		if i%2 == 1 {
			c = second
		}
		s.waitExpired(t, c, id)
	}
	if st := s.stock(t, p.ID); st != 100 {
		t.Fatalf("stock %d after every order expired, want 100", st)
	}
	for _, id := range ids {
		var types []string
		for _, e := range s.events(t, id) {
			types = append(types, e.Type)
		}
		if strings.Join(types, ",") != "expired,placed" {
			t.Fatalf("order %s: events %v, want one expiry", id, types)
		}
	}
	s.checkLedger(t)
}
