package webhooks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/b2borders/platform/core/events"
	"github.com/b2borders/platform/testsuite/apptest"
)

// Every committed change yields exactly one event, delivered at least once
// with a valid signature, whose data is the resource as the API answered
// it; a placement refused for stock yields none.
func TestEveryCommittedChangeIsDeliveredOnceSigned(t *testing.T) {
	r := newReceiver(t)
	s := newStack(t)
	api := s.replica(fast(r, 5))
	cust := s.customer()

	p := product(t, api, "EV-1", 5)                                                                     // product.stock_changed, seq 1
	placed1 := place(t, api, cust, map[string]int64{p: 2})                                              // order.placed
	o1 := orderID(t, placed1)                                                                           //
	api.Do(t, "POST", "/orders/"+o1+"/confirm", nil, "X-Idempotency-Key", "k-1").Want(t, http.StatusOK) // order.confirmed
	api.Do(t, "POST", "/orders/"+o1+"/confirm", nil, "X-Idempotency-Key", "k-2").Want(t, http.StatusOK) // nothing changes: no event
	place(t, api, cust, map[string]int64{p: 4}).Want(t, http.StatusConflict)                            // refused: no event
	o2 := orderID(t, place(t, api, cust, map[string]int64{p: 3}))                                       // order.placed; stock 0: product.stock_changed
	api.Do(t, "POST", "/orders/"+o2+"/cancel", nil).Want(t, http.StatusOK)                              // order.canceled; stock back from 0: product.stock_changed
	api.Do(t, "POST", "/orders/"+o2+"/cancel", nil).Want(t, http.StatusOK)                              // nothing changes: no event
	api.Do(t, "PATCH", "/products/"+p, map[string]any{"name": "renamed"}).Want(t, http.StatusOK)        // stock unchanged: no event
	api.Do(t, "PATCH", "/products/"+p, map[string]any{"stock": 9}).Want(t, http.StatusOK)               // product.stock_changed

	want := []struct {
		typ, resource string
		seq           int64
	}{
		{"product.stock_changed", "product/" + p, 1},
		{"order.placed", "order/" + o1, 1},
		{"order.confirmed", "order/" + o1, 2},
		{"order.placed", "order/" + o2, 1},
		{"product.stock_changed", "product/" + p, 3}, // version 3: created 1, o1 took 2 → 2, o2 took 3 → 3
		{"order.canceled", "order/" + o2, 2},
		{"product.stock_changed", "product/" + p, 4},
		{"product.stock_changed", "product/" + p, 6}, // the rename was version 5
	}
	evs := settled(t, api, len(want))
	for i, w := range want {
		e := evs[i]
		if e.Type != w.typ || e.resource() != w.resource || e.Seq != w.seq {
			t.Errorf("event %d: %s %s seq %d, want %s %s seq %d", i, e.Type, e.resource(), e.Seq, w.typ, w.resource, w.seq)
		}
		if e.Delivery.Status != string(events.Delivered) || e.Delivery.Attempts < 1 || e.Delivery.DeliveredAt == nil {
			t.Errorf("event %d (%s): delivery %+v", i, e.Type, e.Delivery)
		}
	}

	// Each event reached the receiver, signed, with the body the feed shows.
	got := map[string]delivered{}
	for _, d := range r.accepted() {
		got[d.ID] = d
	}
	ids := map[string]bool{}
	for _, e := range evs {
		if ids[e.ID] {
			t.Errorf("event id %s appears twice in the feed", e.ID)
		}
		ids[e.ID] = true
		d, ok := got[e.ID]
		if !ok {
			t.Errorf("event %s (%s) never reached the receiver", e.ID, e.Type)
			continue
		}
		if d.Type != e.Type || d.Seq != e.Seq || d.Resource != e.resource() || !jsonEqual(d.Data, e.Data) {
			t.Errorf("delivered %s %s seq %d %s, feed has %s %s seq %d %s", d.Type, d.Resource, d.Seq, d.Data, e.Type, e.resource(), e.Seq, e.Data)
		}
	}
	if len(got) != len(evs) {
		t.Errorf("the receiver got %d distinct events, the feed holds %d", len(got), len(evs))
	}
	r.check()

	// The metrics count what was written and delivered, and see no event
	// waiting.
	metrics := func() string { return string(api.Do(t, "GET", "/metrics", nil).Want(t, http.StatusOK).Body) }
	for _, line := range []string{
		`events_written_total{type="order.placed"} 2`,
		`events_written_total{type="order.confirmed"} 1`,
		`events_written_total{type="order.canceled"} 1`,
		`events_written_total{type="product.stock_changed"} 4`,
		`webhook_attempts_total{outcome="failed"} 0`,
	} {
		if m := metrics(); !strings.Contains(m, line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	var delivered int
	for _, line := range strings.Split(metrics(), "\n") {
		if v, ok := strings.CutPrefix(line, `webhook_attempts_total{outcome="delivered"} `); ok {
			delivered, _ = strconv.Atoi(v)
		}
	}
	if delivered < len(want) {
		t.Errorf("webhook_attempts_total{outcome=\"delivered\"} %d, want at least %d", delivered, len(want))
	}
	eventually(t, "webhook_oldest_pending_seconds is 0", func() bool {
		return strings.Contains(metrics(), "webhook_oldest_pending_seconds 0\n")
	})

	// An event's data is the resource as the API rendered it: the
	// placement's answer, and GET's answer after the last change.
	if !jsonEqual(evs[1].Data, placed1.Body) {
		t.Errorf("order.placed data %s, POST /orders answered %s", evs[1].Data, placed1.Body)
	}
	if get := api.Do(t, "GET", "/orders/"+o2, nil).Want(t, http.StatusOK); !bytes.Equal(append(bytes.Clone(evs[5].Data), '\n'), get.Body) {
		t.Errorf("order.canceled data %s, GET /orders/{id} answers %s", evs[5].Data, get.Body)
	}
	if get := api.Do(t, "GET", "/products/"+p, nil).Want(t, http.StatusOK); !bytes.Equal(append(bytes.Clone(evs[7].Data), '\n'), get.Body) {
		t.Errorf("product.stock_changed data %s, GET /products/{id} answers %s", evs[7].Data, get.Body)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

// With WEBHOOK_URL unset no dispatcher runs, and the feed still serves
// every event, pending, paged with cursors and filtered by type.
func TestFeedWithoutWebhooks(t *testing.T) {
	s := newStack(t)
	api := s.replica(fast(nil, 0))
	cust := s.customer()
	p := product(t, api, "FEED-1", 100)
	var orders []string
	for range 9 {
		orders = append(orders, orderID(t, place(t, api, cust, map[string]int64{p: 1})))
	}
	var evs []feedEvent
	eventually(t, "the feed holds 10 events", func() bool {
		evs, _ = feed(t, api, "", "")
		return len(evs) == 10
	})
	for _, e := range evs {
		if e.Delivery.Status != string(events.Pending) || e.Delivery.Attempts != 0 {
			t.Errorf("event %s without webhooks: delivery %+v", e.ID, e.Delivery)
		}
	}
	placed, next := feed(t, api, "", "order.placed,order.canceled")
	if len(placed) != 9 {
		t.Fatalf("types=order.placed,order.canceled: %d events, want 9", len(placed))
	}
	for i, e := range placed {
		if e.Type != "order.placed" || e.Resource.ID != orders[i] {
			t.Errorf("event %d: %s of %s, want order.placed of %s, in commit order", i, e.Type, e.Resource.ID, orders[i])
		}
	}
	// The cursor of the last page is where new events appear.
	api.Do(t, "POST", "/orders/"+orders[0]+"/cancel", nil).Want(t, http.StatusOK)
	var more []feedEvent
	eventually(t, "the cancel appears after the cursor", func() bool {
		more, _ = feed(t, api, next, "order.placed,order.canceled")
		return len(more) > 0
	})
	if len(more) != 1 || more[0].Type != "order.canceled" || more[0].Resource.ID != orders[0] || more[0].Seq != 2 {
		t.Errorf("after the cursor: %+v, want the one order.canceled", more)
	}

	for _, q := range []struct{ query, field string }{
		{"after=bm90LWEtY3Vyc29y", "after"},
		{"types=order.shipped", "types"},
		{"limit=0", "limit"},
		{"limit=101", "limit"},
	} {
		prob := api.Do(t, "GET", "/events?"+q.query, nil).Want(t, http.StatusBadRequest).Problem(t)
		if len(prob.Errors) != 1 || prob.Errors[0].Field != q.field {
			t.Errorf("GET /events?%s: errors %+v, want one naming %s", q.query, prob.Errors, q.field)
		}
	}
	// A list cursor is not a feed cursor.
	var list struct {
		Page struct {
			NextCursor string `json:"next_cursor"`
		} `json:"page"`
	}
	api.Do(t, "GET", "/orders?limit=1", nil).Want(t, http.StatusOK).JSON(t, &list)
	api.Do(t, "GET", "/events?after="+list.Page.NextCursor, nil).Want(t, http.StatusBadRequest)
	anon := &apptest.Client{Base: api.Base}
	anon.Do(t, "GET", "/events", nil).Want(t, http.StatusUnauthorized)
	svc := &apptest.Client{Base: api.Base, Token: apptest.ServiceToken}
	svc.Do(t, "GET", "/events", nil).Want(t, http.StatusOK)
}

// Fifty buyers race for a stock of ten through two replicas: exactly ten
// order.placed events, one per order that committed, and one
// product.stock_changed when the stock ran out; none for the refused.
func TestConcurrentPlacementsYieldOneEventPerCommit(t *testing.T) {
	r := newReceiver(t)
	s := newStack(t)
	a, b := s.replica(fast(r, 5)), s.replica(fast(r, 5))
	cust := s.customer()
	p := product(t, a, "RACE-1", 10)
	var mu sync.Mutex
	var placed []string
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := []*apptest.Client{a, b}[i%2]
			res := place(t, c, cust, map[string]int64{p: 1})
			if res.Status == http.StatusCreated {
				var o struct{ ID string }
				res.JSON(t, &o)
				mu.Lock()
				placed = append(placed, o.ID)
				mu.Unlock()
			} else if res.Status != http.StatusConflict {
				t.Errorf("placement: %d %s", res.Status, res.Body)
			}
		}()
	}
	wg.Wait()
	if len(placed) != 10 {
		t.Fatalf("%d orders placed from a stock of 10", len(placed))
	}
	evs := settled(t, a, 1+10+1)
	var orderEvents []string
	var stock []feedEvent
	for _, e := range evs {
		switch e.Type {
		case "order.placed":
			orderEvents = append(orderEvents, e.Resource.ID)
		case "product.stock_changed":
			stock = append(stock, e)
		}
	}
	slices.Sort(orderEvents)
	slices.Sort(placed)
	if !slices.Equal(orderEvents, placed) {
		t.Errorf("order.placed events for %v, orders placed %v", orderEvents, placed)
	}
	if len(stock) != 2 || stock[0].Seq != 1 || stock[1].Seq != 11 || !bytes.Contains(stock[1].Data, []byte(`"stock":0`)) {
		t.Errorf("stock events %+v, want the creation and the one that emptied it (version 11, stock 0)", stock)
	}
	for _, e := range evs {
		if e.Delivery.Status != string(events.Delivered) {
			t.Errorf("event %s: %+v", e.ID, e.Delivery)
		}
	}
	r.check()
}
