package contract

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/audit"
	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/ordering"
	"github.com/b2borders/platform/core/page"
)

// suiteTTL is the reservation TTL of the expiry cases.
const suiteTTL = 30 * time.Minute

// ttlService returns the use cases over store with reservations of
// suiteTTL and the given clock.
func (e *orderEnv) ttlService(store ordering.Store, now func() time.Time) *ordering.Service {
	return ordering.NewService(store, anyCustomer{}, ordering.Config{
		CancelWindow: suiteCancelWindow, IdempotencyTTL: suiteKeyTTL, ReservationTTL: suiteTTL, Now: now,
	})
}

// fixed is a clock that stays at t.
func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

// events lists an order's history, oldest first.
func (e *orderEnv) events(id uuid.UUID) []ordering.Event {
	e.t.Helper()
	var all []ordering.Event
	q := ordering.EventQuery{OrderID: id, Page: page.Request{Limit: 2}}
	for range 100 {
		p, err := e.svc.Events(e.t.Context(), q)
		if err != nil {
			e.t.Fatalf("events of %s: %v", id, err)
		}
		all = append(all, p.Items...)
		if !p.HasMore {
			slices.Reverse(all)
			return all
		}
		q.Page.After = p.Next
	}
	e.t.Fatal("the events never ended")
	return nil
}

// eventTypes names an order's events, oldest first.
func (e *orderEnv) eventTypes(id uuid.UUID) string {
	e.t.Helper()
	var types []string
	for _, ev := range e.events(id) {
		types = append(types, string(ev.Type))
	}
	return strings.Join(types, ",")
}

func orderHistory(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	ctx := asOperator(t.Context(), "alice", "req-place")
	o, _, err := e.svc.Place(ctx, ordering.PlaceRequest{CustomerID: e.customer, Lines: []ordering.Line{orderLine(p, 3)}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.svc.Confirm(asOperator(t.Context(), "bob", "req-confirm"), o.ID, "k", renderOrder(nil)); err != nil {
		t.Fatal(err)
	}
	// Replays and no-ops change nothing, so they write nothing.
	if c, err := e.svc.Confirm(t.Context(), o.ID, "k", renderOrder(nil)); err != nil || !c.Replayed {
		t.Fatalf("replay: %v", err)
	}
	if _, err := e.svc.Confirm(t.Context(), o.ID, "another", renderOrder(nil)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.svc.Cancel(asOperator(t.Context(), audit.Service, "req-cancel"), o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Cancel(t.Context(), o.ID); err != nil {
		t.Fatal(err)
	}
	evs := e.events(o.ID)
	want := []struct {
		typ        ordering.EventType
		actor, req string
		at         time.Time
	}{
		{ordering.EventPlaced, "alice", "req-place", o.CreatedAt},
		{ordering.EventConfirmed, "bob", "req-confirm", o.CreatedAt.Add(time.Second)},
		{ordering.EventCanceled, audit.Service, "req-cancel", o.CreatedAt.Add(2 * time.Second)},
	}
	if len(evs) != len(want) {
		t.Fatalf("events %s, want placed,confirmed,canceled", e.eventTypes(o.ID))
	}
	for i, w := range want {
		ev := evs[i]
		if ev.Type != w.typ || ev.Actor != w.actor || ev.RequestID != w.req || !ev.CreatedAt.Equal(w.at) || ev.OrderID != o.ID || ev.ID.Version() != 7 {
			t.Fatalf("event %d: %+v, want %s by %s under %s at %s", i, ev, w.typ, w.actor, w.req, w.at)
		}
	}
	ms := AllMovements(t, e.Products, p.ID)
	if len(ms) != 3 {
		t.Fatalf("%d movements, want created, placed, canceled", len(ms))
	}
	wantMovement(t, movementOf(t, ms, catalog.Placed, o.ID), p.ID, catalog.Placed, -3, o.ID, "alice", "req-place")
	wantMovement(t, movementOf(t, ms, catalog.Canceled, o.ID), p.ID, catalog.Canceled, 3, o.ID, audit.Service, "req-cancel")
	if e.stock(p) != 10 {
		t.Fatalf("stock %d, want 10", e.stock(p))
	}
}

func orderEventsUnknown(t *testing.T, e *orderEnv) {
	_, err := e.svc.Events(t.Context(), ordering.EventQuery{OrderID: uuid.New(), Page: page.Request{Limit: 10}})
	mustFailWith(t, err, errs.NotFound)
}

func orderPlaceDeadline(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	svc := e.ttlService(e.Orders, e.clock.Now)
	o, _, err := e.placeWith(svc, "", orderLine(p, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := o.CreatedAt.Add(suiteTTL)
	if o.ExpiresAt == nil || !o.ExpiresAt.Equal(want) {
		t.Fatalf("expires at %v, want %s", o.ExpiresAt, want)
	}
	if got := e.get(o.ID); got.ExpiresAt == nil || !got.ExpiresAt.Equal(want) {
		t.Fatalf("stored expires at %v, want %s", got.ExpiresAt, want)
	}
	// Not due a microsecond before its deadline.
	sweeper := e.ttlService(e.Orders, fixed(want.Add(-time.Microsecond)))
	if n, err := sweeper.ExpireDue(t.Context()); err != nil || n != 0 {
		t.Fatalf("sweep before the deadline: %d, %v", n, err)
	}
}

func orderSweep(t *testing.T, e *orderEnv) {
	a := e.product("A", 100, 10)
	b := e.product("B", 100, 10)
	svc := e.ttlService(e.Orders, e.clock.Now)
	due, _, err := e.placeWith(svc, "", orderLine(a, 2), orderLine(b, 3))
	if err != nil {
		t.Fatal(err)
	}
	confirmed, _, err := e.placeWith(svc, "", orderLine(a, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Confirm(t.Context(), confirmed.ID, "c", renderOrder(nil)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	later, _, err := e.placeWith(svc, "", orderLine(b, 1))
	if err != nil {
		t.Fatal(err)
	}
	// Past the first order's deadline, not the last one's.
	e.clock.Set(due.ExpiresAt.Add(time.Second))
	n, err := svc.ExpireDue(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d expired, %v; want 1", n, err)
	}
	if n, err := svc.ExpireDue(t.Context()); err != nil || n != 0 {
		t.Fatalf("second sweep: %d expired, %v; want 0", n, err)
	}
	got := e.get(due.ID)
	if got.Status != ordering.Expired || !got.UpdatedAt.Equal(e.clock.Now()) {
		t.Fatalf("due order is %s updated at %s", got.Status, got.UpdatedAt)
	}
	if st := e.get(confirmed.ID).Status; st != ordering.Confirmed {
		t.Fatalf("confirmed order is %s", st)
	}
	if st := e.get(later.ID).Status; st != ordering.Created {
		t.Fatalf("the order not yet due is %s", st)
	}
	if e.stock(a) != 9 || e.stock(b) != 9 {
		t.Fatalf("stock %d and %d, want 9 and 9", e.stock(a), e.stock(b))
	}
	evs := e.events(due.ID)
	if len(evs) != 2 || evs[1].Type != ordering.EventExpired || evs[1].Actor != audit.Service || evs[1].RequestID != "" {
		t.Fatalf("events %+v, want placed then expired by the service without a request id", evs)
	}
	ms := AllMovements(t, e.Products, b.ID)
	wantMovement(t, movementOf(t, ms, catalog.Expired, due.ID), b.ID, catalog.Expired, 3, due.ID, audit.Service, "")
	expired := e.allOrders(ordering.Query{Status: ordering.Expired}, 10)
	if len(expired) != 1 || expired[0].ID != due.ID {
		t.Fatalf("EXPIRED orders: %d", len(expired))
	}
}

func orderConfirmPastDeadline(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	svc := e.ttlService(e.Orders, e.clock.Now)
	o, _, err := e.placeWith(svc, "", orderLine(p, 4))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(*o.ExpiresAt)
	_, err = svc.Confirm(t.Context(), o.ID, "late", renderOrder(nil))
	mustFailWith(t, err, errs.InvalidTransition)
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("error %v does not say the reservation expired", err)
	}
	if got := e.get(o.ID); got.Status != ordering.Created || e.stock(p) != 6 {
		t.Fatalf("after the refusal: %s, stock %d; want CREATED, 6", got.Status, e.stock(p))
	}
	if n, err := svc.ExpireDue(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	// The key was not used up by the refusal; the answer is the same.
	_, err = svc.Confirm(t.Context(), o.ID, "late", renderOrder(nil))
	mustFailWith(t, err, errs.InvalidTransition)
	if !strings.Contains(err.Error(), string(ordering.Expired)) {
		t.Fatalf("error %v does not name the state", err)
	}
	_, err = svc.Cancel(t.Context(), o.ID)
	mustFailWith(t, err, errs.InvalidTransition)
	if !strings.Contains(err.Error(), string(ordering.Expired)) {
		t.Fatalf("error %v does not name the state", err)
	}
	if e.stock(p) != 10 || e.eventTypes(o.ID) != "placed,expired" {
		t.Fatalf("stock %d, events %s; want 10, placed,expired", e.stock(p), e.eventTypes(o.ID))
	}
}

func orderCancelPastDeadline(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	svc := e.ttlService(e.Orders, e.clock.Now)
	o, _, err := e.placeWith(svc, "", orderLine(p, 4))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(o.ExpiresAt.Add(time.Minute))
	if got, err := svc.Cancel(t.Context(), o.ID); err != nil || got.Status != ordering.Canceled {
		t.Fatalf("cancel past the deadline: %v", err)
	}
	if n, err := svc.ExpireDue(t.Context()); err != nil || n != 0 {
		t.Fatalf("sweep after the cancel: %d, %v", n, err)
	}
	if e.stock(p) != 10 || e.eventTypes(o.ID) != "placed,canceled" {
		t.Fatalf("stock %d, events %s", e.stock(p), e.eventTypes(o.ID))
	}
}

func orderExpiryOff(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	o := e.place(orderLine(p, 1))
	if o.ExpiresAt != nil || e.get(o.ID).ExpiresAt != nil {
		t.Fatal("an order placed with expiry off has a deadline")
	}
	// An order placed while expiry was on, confirmed after its deadline by
	// a service with expiry off: no deadline is enforced, none is swept.
	on := e.ttlService(e.Orders, e.clock.Now)
	due, _, err := e.placeWith(on, "", orderLine(p, 2))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(due.ExpiresAt.Add(time.Hour))
	if n, err := e.svc.ExpireDue(t.Context()); err != nil || n != 0 {
		t.Fatalf("a sweep with expiry off: %d, %v", n, err)
	}
	e.confirm(due.ID)
	if st := e.get(due.ID).Status; st != ordering.Confirmed || e.stock(p) != 7 {
		t.Fatalf("%s, stock %d", st, e.stock(p))
	}
}

// sweepRace places rounds of orders on two contended products with a
// reservation TTL, then, for each round, runs act on every order at once
// with a clock before the deadline, while sweepers whose clock is past it
// expire what they can. It returns the orders and what act returned for
// each.
func (e *orderEnv) sweepRace(rounds, perRound int, act func(svc *ordering.Service, o ordering.Order) error) ([]ordering.Order, []error, [2]catalog.Product) {
	e.t.Helper()
	products := [2]catalog.Product{e.product("HOT-A", 100, 1_000_000), e.product("HOT-B", 100, 1_000_000)}
	placed := e.clock.Now()
	svc := e.ttlService(e.Orders, fixed(placed))
	var sweepers []*ordering.Service
	for _, store := range []ordering.Store{e.Orders, e.replica()} {
		sweepers = append(sweepers, e.ttlService(store, fixed(placed.Add(suiteTTL+time.Second))))
	}
	var orders []ordering.Order
	var results []error
	for r := range rounds {
		batch := make([]ordering.Order, perRound)
		for i := range batch {
			var err error
			batch[i], _, err = e.placeWith(svc, "", orderLine(products[0], int64(1+i%3)), orderLine(products[1], int64(1+r%2)))
			if err != nil {
				e.t.Fatal(err)
			}
		}
		res := make([]error, perRound)
		var failed atomic.Value
		var busy atomic.Int64
		runConcurrently(perRound+2*len(sweepers), func(i int) {
			if i < perRound {
				res[i] = act(svc, batch[i])
				return
			}
			for range 3 {
				_, err := sweepers[i%len(sweepers)].ExpireDue(context.Background())
				switch {
				case errs.Is(err, errs.DependencyUnavailable):
					// Sweeps through two nodes of a cluster take the same
					// orders, since a node's locks are its own, and one
					// of each pair is aborted at commit and run again;
					// one that keeps losing gives up with nothing
					// written, and leaves its orders to the next pass.
					// The outcomes below show nothing was half done.
					busy.Add(1)
				case err != nil:
					failed.Store(err)
				}
			}
		})
		if err, _ := failed.Load().(error); err != nil {
			e.t.Fatalf("round %d: sweep: %v", r, err)
		}
		if n := busy.Load(); n > 0 {
			e.t.Logf("round %d: %d sweeps gave up on conflicts", r, n)
		}
		orders = append(orders, batch...)
		results = append(results, res...)
	}
	// Whatever the sweepers skipped while it was held is due still.
	if _, err := sweepers[0].ExpireDue(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	return orders, results, products
}

// replica is another store over the same data, or the same store when the
// implementation has no other.
func (e *orderEnv) replica() ordering.Store {
	if e.Replica == nil {
		return e.Orders
	}
	return e.Replica()
}

// raceOutcomes checks that each order of a sweep race ended either as
// won (with act having returned nil and the order's events placed, then
// event) or EXPIRED (with act refused as an invalid transition, and the
// events placed, expired), and returns the units the won orders hold per
// product.
func (e *orderEnv) raceOutcomes(orders []ordering.Order, results []error, won ordering.Status, event ordering.EventType) map[uuid.UUID]int64 {
	e.t.Helper()
	held := map[uuid.UUID]int64{}
	outcomes := map[ordering.Status]int{}
	for i, o := range orders {
		got := e.get(o.ID)
		outcomes[got.Status]++
		var want string
		switch {
		case results[i] == nil && got.Status == won:
			want = "placed," + string(event)
			for _, it := range got.Items {
				held[it.ProductID] += it.Qty
			}
		case errs.Is(results[i], errs.InvalidTransition) && got.Status == ordering.Expired:
			want = "placed,expired"
		default:
			e.t.Fatalf("order %s ended %s, the command racing the sweep returned %v", o.ID, got.Status, results[i])
		}
		if types := e.eventTypes(o.ID); types != want {
			e.t.Fatalf("%s order %s has events %s, want %s", got.Status, o.ID, types, want)
		}
	}
	e.t.Logf("outcomes: %v", outcomes)
	return held
}

func orderSweepRacesConfirm(t *testing.T, e *orderEnv) {
	orders, results, products := e.sweepRace(10, 8, func(svc *ordering.Service, o ordering.Order) error {
		_, err := svc.Confirm(context.Background(), o.ID, "confirm-"+o.ID.String(), renderOrder(nil))
		return err
	})
	taken := e.raceOutcomes(orders, results, ordering.Confirmed, ordering.EventConfirmed)
	for _, p := range products {
		if got := e.stock(p); got != p.Stock-taken[p.ID] {
			t.Fatalf("product %s: stock %d, want %d less %d held by confirmed orders", p.SKU, got, p.Stock, taken[p.ID])
		}
	}
}

func orderSweepRacesCancel(t *testing.T, e *orderEnv) {
	orders, results, products := e.sweepRace(10, 8, func(svc *ordering.Service, o ordering.Order) error {
		_, err := svc.Cancel(context.Background(), o.ID)
		return err
	})
	e.raceOutcomes(orders, results, ordering.Canceled, ordering.EventCanceled)
	for _, p := range products {
		if got := e.stock(p); got != p.Stock {
			t.Fatalf("product %s: stock %d, want all %d back", p.SKU, got, p.Stock)
		}
	}
}

// orderTwoSweepers runs sweeps from two stores with pools of their own, as
// two replicas, several at once, over more due orders than one batch: each
// order is expired by exactly one of them, and its stock given back once.
func orderTwoSweepers(t *testing.T, e *orderEnv) {
	if e.Replica == nil {
		t.Fatal("the suite needs OrderStores.Replica for this case")
	}
	const n = ordering.ExpireBatch + ordering.ExpireBatch/2
	p := e.product("P", 100, 10_000)
	q := e.product("Q", 100, 10_000)
	svc := e.ttlService(e.Orders, e.clock.Now)
	var orders []ordering.Order
	for i := range n {
		o, _, err := e.placeWith(svc, "", orderLine(p, int64(1+i%5)), orderLine(q, 1))
		if err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o)
	}
	late := fixed(e.clock.Now().Add(suiteTTL + time.Second))
	replicas := []*ordering.Service{e.ttlService(e.Orders, late), e.ttlService(e.Replica(), late)}
	var total atomic.Int64
	var mu sync.Mutex
	var failures []error
	runConcurrently(6, func(i int) {
		for range 3 {
			got, err := replicas[i%2].ExpireDue(context.Background())
			total.Add(int64(got))
			if err != nil {
				mu.Lock()
				failures = append(failures, fmt.Errorf("sweeper %d: %w", i, err))
				mu.Unlock()
			}
		}
	})
	for _, err := range failures {
		t.Fatal(err)
	}
	// A sweep skips the orders another transaction holds. When that
	// transaction is rolled back to run again (a deadlock with another
	// sweep, seen on the snapshot-isolation server), every sweep running
	// at that moment may have skipped the orders it held; they are left
	// to the next pass, as a replica's next tick takes them. One more
	// sweep after the race stands for that pass: it must find what is
	// left, and nothing twice.
	got, err := replicas[0].ExpireDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total.Add(int64(got))
	if total.Load() != n {
		t.Fatalf("the sweepers report %d expired orders, want %d", total.Load(), n)
	}
	for _, o := range orders {
		if types := e.eventTypes(o.ID); types != "placed,expired" || e.get(o.ID).Status != ordering.Expired {
			t.Fatalf("order %s: %s, events %s", o.ID, e.get(o.ID).Status, types)
		}
	}
	if e.stock(p) != 10_000 || e.stock(q) != 10_000 {
		t.Fatalf("stock %d and %d, want all 10000 back", e.stock(p), e.stock(q))
	}
}

func orderSweepBacklog(t *testing.T, e *orderEnv) {
	const n = 2*ordering.ExpireBatch + 7
	p := e.product("P", 100, 10_000)
	svc := e.ttlService(e.Orders, e.clock.Now)
	for range n {
		if _, _, err := e.placeWith(svc, "", orderLine(p, 2)); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(suiteTTL)
	if got, err := svc.ExpireDue(t.Context()); err != nil || got != n {
		t.Fatalf("swept %d, %v; want all %d", got, err, n)
	}
	if e.stock(p) != 10_000 {
		t.Fatalf("stock %d, want 10000", e.stock(p))
	}
}
