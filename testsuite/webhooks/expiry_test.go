package webhooks_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/b2borders/platform/testsuite/apptest"
)

// A reservation that runs out is announced with order.expired, whose data
// is the expired order as GET answers it; the stock it gives back to an
// empty product, and an operator's stock adjustment, with
// product.stock_changed.
func TestExpiryAndAdjustmentsAreAnnounced(t *testing.T) {
	r := newReceiver(t)
	s := newStack(t)
	api := s.replicaWith(apptest.OrdersOptions{Events: fast(r, 5), ReservationTTL: 2 * time.Second})
	cust := s.customer()
	p := product(t, api, "EXP-1", 2)                             // stock_changed seq 1
	o := orderID(t, place(t, api, cust, map[string]int64{p: 2})) // placed; emptied: stock_changed seq 2
	eventually(t, "the order expires", func() bool {
		var got struct{ Status string }
		api.Do(t, "GET", "/orders/"+o, nil).Want(t, http.StatusOK).JSON(t, &got)
		return got.Status == "EXPIRED"
	}) // expired; refilled: stock_changed seq 3
	api.Do(t, "POST", "/products/"+p+"/stock-adjustments", map[string]any{"delta": 5, "reason": "recount"}).
		Want(t, http.StatusOK) // stock_changed seq 4

	want := []struct {
		typ, resource string
		seq           int64
		stock         string
	}{
		{"product.stock_changed", "product/" + p, 1, `"stock":2`},
		{"order.placed", "order/" + o, 1, ""},
		{"product.stock_changed", "product/" + p, 2, `"stock":0`},
		{"order.expired", "order/" + o, 2, ""},
		{"product.stock_changed", "product/" + p, 3, `"stock":2`},
		{"product.stock_changed", "product/" + p, 4, `"stock":7`},
	}
	evs := settled(t, api, len(want))
	for i, w := range want {
		e := evs[i]
		if e.Type != w.typ || e.resource() != w.resource || e.Seq != w.seq || !bytes.Contains(e.Data, []byte(w.stock)) {
			t.Errorf("event %d: %s %s seq %d %s, want %s %s seq %d with %s", i, e.Type, e.resource(), e.Seq, e.Data, w.typ, w.resource, w.seq, w.stock)
		}
	}
	get := api.Do(t, "GET", "/orders/"+o, nil).Want(t, http.StatusOK)
	if !bytes.Equal(append(bytes.Clone(evs[3].Data), '\n'), get.Body) {
		t.Errorf("order.expired data %s, GET /orders/{id} answers %s", evs[3].Data, get.Body)
	}
	allDelivered(t, r, evs)
}
