package webhooks_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2borders/platform/core/events"
	"github.com/b2borders/platform/testsuite/apptest"
)

// Three replicas dispatch at once to a slow receiver: no event is ever in
// flight twice at the same moment, and each order's events arrive in seq
// order, each only once its predecessor was answered.
func TestReplicasDeliverInOrderWithoutOverlap(t *testing.T) {
	r := newReceiver(t)
	r.hold = 15 * time.Millisecond
	s := newStack(t)
	replicas := []*apptest.Client{s.replica(fast(r, 10)), s.replica(fast(r, 10)), s.replica(fast(r, 10))}
	cust := s.customer()
	p := product(t, replicas[0], "ORDERED-1", 1_000_000)
	// Every order is placed, confirmed and canceled in quick succession,
	// each step through another replica, so its three events are due
	// together and the replicas compete for them.
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := func(k int) *apptest.Client { return replicas[(i+k)%len(replicas)] }
			o := orderID(t, place(t, c(0), cust, map[string]int64{p: 1}))
			c(1).Do(t, "POST", "/orders/"+o+"/confirm", nil, "X-Idempotency-Key", "c-"+o).Want(t, http.StatusOK)
			c(2).Do(t, "POST", "/orders/"+o+"/cancel", nil).Want(t, http.StatusOK)
		}()
	}
	wg.Wait()
	evs := settled(t, replicas[0], 1+12*3)
	r.check()

	// Per resource, deliveries arrive in seq order: a later one never
	// before an earlier one was accepted.
	last := map[string]int64{}
	for _, d := range r.accepted() {
		if d.Seq < last[d.Resource] {
			t.Errorf("%s: seq %d delivered after seq %d", d.Resource, d.Seq, last[d.Resource])
		}
		last[d.Resource] = max(last[d.Resource], d.Seq)
	}
	for _, e := range evs {
		if e.Delivery.Status != string(events.Delivered) {
			t.Errorf("event %s %s: %+v", e.Type, e.ID, e.Delivery)
		}
		if last[e.resource()] < e.Seq {
			t.Errorf("event %s %s seq %d never accepted", e.Type, e.resource(), e.Seq)
		}
	}
}

// A 4xx other than 408 and 429 fails an event at once; a 5xx is retried
// until it passes; and after the last attempt an event is failed, without
// holding back the events of other resources or the later ones of its own.
func TestRetriesAndFailures(t *testing.T) {
	r := newReceiver(t)
	var mu sync.Mutex
	refuse := map[string]int{} // resource → status to answer, always
	flaky := map[string]int{}  // resource → 5xx answers before a 200
	r.answer = func(d delivered, attempt int) int {
		mu.Lock()
		defer mu.Unlock()
		if st, ok := refuse[d.Resource]; ok && d.Seq == 1 {
			return st
		}
		if n := flaky[d.Resource]; attempt <= n {
			return []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusRequestTimeout}[attempt%3]
		}
		return http.StatusOK
	}
	s := newStack(t)
	api := s.replica(fast(r, 4))
	cust := s.customer()
	// Each product's creation is its seq 1 event.
	bad, down, slow, fine := "BAD-1", "DOWN-1", "SLOW-1", "FINE-1"
	ids := map[string]string{}
	mu.Lock()
	for _, sku := range []string{bad, down, slow, fine} {
		ids[sku] = "product/" + product(t, api, sku, 10)
	}
	refuse[ids[bad]] = http.StatusUnprocessableEntity
	refuse[ids[down]] = http.StatusInternalServerError
	flaky[ids[slow]] = 3
	mu.Unlock()
	// The refused products get a later event too, which must still go.
	for _, sku := range []string{bad, down} {
		id := strings.TrimPrefix(ids[sku], "product/")
		api.Do(t, "PATCH", "/products/"+id, map[string]any{"stock": 0}).Want(t, http.StatusOK)
	}
	orderID(t, place(t, api, cust, map[string]int64{strings.TrimPrefix(ids[fine], "product/"): 1}))

	evs := settled(t, api, 4+2+1)
	byKey := map[string]feedEvent{}
	for _, e := range evs {
		byKey[e.resource()+"#"+e.Type+"#"+string(rune('0'+e.Seq))] = e
	}
	check := func(name string, e feedEvent, status string, attempts int) {
		t.Helper()
		if e.Delivery.Status != status || e.Delivery.Attempts != attempts {
			t.Errorf("%s: delivery %+v, want %s after %d attempts", name, e.Delivery, status, attempts)
		}
	}
	first := func(sku string) feedEvent { return byKey[ids[sku]+"#product.stock_changed#1"] }
	check("422", first(bad), "failed", 1)
	if e := first(bad); e.Delivery.LastError == nil || !strings.Contains(*e.Delivery.LastError, "422") {
		t.Errorf("422: last_error %v", e.Delivery.LastError)
	}
	check("500 every time", first(down), "failed", 4)
	check("503, 429, 408, then 200", first(slow), "delivered", 4)
	check("200", first(fine), "delivered", 1)
	for _, sku := range []string{bad, down} {
		check(sku+"'s next event", byKey[ids[sku]+"#product.stock_changed#2"], "delivered", 1)
	}
	if n := r.requests(first(bad).ID); n != 1 {
		t.Errorf("the 422 was sent %d times, want once", n)
	}
	r.check()
}

// A receiver that is down gets everything once it is back.
func TestReceiverDownThenUp(t *testing.T) {
	r := newReceiver(t)
	s := newStack(t)
	cfg := fast(r, 100)
	api := s.replica(cfg)
	cust := s.customer()
	r.stop()
	p := product(t, api, "OUTAGE-1", 50)
	var orders []string
	for range 5 {
		orders = append(orders, orderID(t, place(t, api, cust, map[string]int64{p: 1})))
	}
	eventually(t, "every event has failed an attempt", func() bool {
		evs, _ := feed(t, api, "", "")
		retried := 0
		for _, e := range evs {
			if e.Delivery.Status == string(events.Pending) && e.Delivery.Attempts >= 1 && e.Delivery.LastError != nil {
				retried++
			}
		}
		return retried == 6
	})
	r.restart()
	evs := settled(t, api, 6)
	allDelivered(t, r, evs)
}

// A resource whose oldest event keeps failing holds back its own later
// events, however many, and no other resource's.
func TestAStuckResourceHoldsBackNoOther(t *testing.T) {
	r := newReceiver(t)
	var mu sync.Mutex
	stuck := ""
	r.answer = func(d delivered, _ int) int {
		mu.Lock()
		defer mu.Unlock()
		if d.Resource == stuck && d.Seq == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	s := newStack(t)
	cfg := fast(r, 1000)
	api := s.replica(cfg)
	mu.Lock()
	x := product(t, api, "STUCK-1", 1)
	stuck = "product/" + x
	mu.Unlock()
	// More later events of the stuck product than a dispatcher claims at once.
	for i := range int64(2 * events.DefaultBatch) {
		api.Do(t, "PATCH", "/products/"+x, map[string]any{"stock": i + 2}).Want(t, http.StatusOK)
	}
	y := product(t, api, "FREE-1", 1)
	eventually(t, "the other product's event is delivered", func() bool {
		for _, d := range r.accepted() {
			if d.Resource == "product/"+y {
				return true
			}
		}
		return false
	})
	for _, d := range r.accepted() {
		if d.Resource == stuck {
			t.Errorf("%s seq %d was delivered before seq 1", d.Resource, d.Seq)
		}
	}
	r.check()
}
