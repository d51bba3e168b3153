package contract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/idempotency"
	"github.com/b2borders/platform/core/ordering"
	"github.com/b2borders/platform/core/page"
)

// OrderStores is what the order suite runs against: an order store, and the
// catalogue and key purger over the same data, to seed products and to
// watch their stock.
type OrderStores struct {
	Products catalog.Store
	Orders   ordering.Store
	Keys     idempotency.Purger
	// Replica returns another order store over the same data, as another
	// replica of the service has: a connection pool of its own.
	Replica func() ordering.Store
}

// RunOrderStoreSuite proves an ordering.Store, mostly through the ordering
// use cases, as the service runs it. newStores returns empty stores of
// their own for each case; the concurrent cases need a store that really
// isolates transactions.
func RunOrderStoreSuite(t *testing.T, newStores func(t *testing.T) OrderStores) {
	cases := []struct {
		name string
		run  func(t *testing.T, e *orderEnv)
	}{
		{"PlaceSnapshotsPricesAndTakesStock", orderPlaceSnapshotsPrices},
		{"PlaceUnknownProductWritesNothing", orderPlaceUnknownProduct},
		{"PlaceShortStockListsEveryShortLine", orderPlaceShortStock},
		{"GetUnknownIsNotFound", orderGetUnknown},
		{"SearchFiltersAndPages", orderSearch},
		{"ConcurrentPlacesNeverOversell", orderConcurrentScarceStock},
		{"ConcurrentMultiLinePlacesAndCancelsConserveStock", orderConcurrentMultiLine},
		{"PlaceWithKeyReplaysAndRefusesAnotherRequest", orderPlaceKeyReplay},
		{"PlaceWithKeyConcurrentlyPlacesOnce", orderPlaceKeyConcurrent},
		{"FailedPlaceDoesNotUseUpItsKey", orderPlaceFailureKeepsKeyFree},
		{"KeysAreScopedToTheirCommand", orderKeysScoped},
		{"ConfirmConcurrentlyWithOneKeyTransitionsOnce", orderConfirmConcurrent},
		{"ConfirmReplaysStoredBytes", orderConfirmReplay},
		{"ConfirmKeyOnAnotherOrderIsReused", orderConfirmKeyReused},
		{"ConfirmNewKeyOnConfirmedOrderChangesNothing", orderConfirmAgain},
		{"ConfirmCanceledIsInvalidAndStoresNoKey", orderConfirmCanceled},
		{"ConfirmUnknownIsNotFoundAndStoresNoKey", orderConfirmUnknown},
		{"ConfirmRenderErrorRollsBack", orderConfirmRenderError},
		{"CancelTwiceRestoresStockOnce", orderCancelTwice},
		{"ConcurrentCancelsRestoreStockOnce", orderCancelConcurrent},
		{"CancelConfirmedOnlyWithinWindow", orderCancelWindow},
		{"ExpiredKeyCanBeUsedAgain", orderExpiredKeyReused},
		{"PurgeForgetsExpiredKeysOnly", orderPurge},
		{"EveryChangeIsInTheHistoryAndTheLedger", orderHistory},
		{"EventsOfUnknownIsNotFound", orderEventsUnknown},
		{"PlaceWithTTLSetsTheDeadline", orderPlaceDeadline},
		{"SweepExpiresDueOrdersOnce", orderSweep},
		{"ConfirmPastTheDeadlineIsRefused", orderConfirmPastDeadline},
		{"CancelPastTheDeadlineBeforeTheSweep", orderCancelPastDeadline},
		{"ExpiryOffEnforcesNoDeadline", orderExpiryOff},
		{"SweepRacingConfirmsTakesEachOrderOnce", orderSweepRacesConfirm},
		{"SweepRacingCancelsGivesStockBackOnce", orderSweepRacesCancel},
		{"TwoReplicasSweepingExpireEachOrderOnce", orderTwoSweepers},
		{"ABacklogIsSweptInBatches", orderSweepBacklog},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newOrderEnv(t, newStores(t))
			c.run(t, e)
			CheckLedger(t, e.Products)
		})
	}
}

// The use cases' settings in the suite.
const (
	suiteCancelWindow = 10 * time.Minute
	suiteKeyTTL       = 24 * time.Hour
)

// suiteClock is a clock a case moves by hand.
type suiteClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *suiteClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *suiteClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *suiteClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// anyCustomer is a customer directory that knows every customer.
type anyCustomer struct{}

func (anyCustomer) Get(_ context.Context, id uuid.UUID) (customer.Customer, error) {
	return customer.Customer{ID: id, Name: "ACME", Email: "ops@acme.test"}, nil
}

// orderEnv is one case's world: the stores, the use cases over them with a
// hand-moved clock, and a customer to order for.
type orderEnv struct {
	t *testing.T
	OrderStores
	clock    *suiteClock
	svc      *ordering.Service
	customer uuid.UUID
}

func newOrderEnv(t *testing.T, s OrderStores) *orderEnv {
	clock := &suiteClock{now: time.Now().UTC().Truncate(time.Microsecond)}
	e := &orderEnv{t: t, OrderStores: s, clock: clock, customer: uuid.New()}
	e.svc = e.serviceAt(clock.Now)
	return e
}

// serviceAt returns the use cases over the env's stores with the given
// clock.
func (e *orderEnv) serviceAt(now func() time.Time) *ordering.Service {
	return ordering.NewService(e.Orders, anyCustomer{}, ordering.Config{
		CancelWindow: suiteCancelWindow, IdempotencyTTL: suiteKeyTTL, Now: now,
	})
}

// pastService returns use cases whose clock runs two key lifetimes behind,
// so the keys it writes have expired by everyone's clock, the store's
// included.
func (e *orderEnv) pastService() *ordering.Service {
	return e.serviceAt(func() time.Time { return time.Now().Add(-2 * suiteKeyTTL) })
}

func (e *orderEnv) product(sku string, price, stock int64) catalog.Product {
	e.t.Helper()
	return createProduct(e.t, e.Products, sku, "Product "+sku, price, stock)
}

func (e *orderEnv) stock(p catalog.Product) int64 {
	e.t.Helper()
	return getProduct(e.t, e.Products, p.ID).Stock
}

func orderLine(p catalog.Product, qty int64) ordering.Line {
	return ordering.Line{ProductID: p.ID, Qty: qty}
}

func (e *orderEnv) placeWith(svc *ordering.Service, key string, lines ...ordering.Line) (ordering.Order, bool, error) {
	return svc.Place(e.t.Context(), ordering.PlaceRequest{CustomerID: e.customer, Lines: lines, IdempotencyKey: key})
}

// place places an order that must succeed.
func (e *orderEnv) place(lines ...ordering.Line) ordering.Order {
	e.t.Helper()
	o, replayed, err := e.placeWith(e.svc, "", lines...)
	if err != nil || replayed {
		e.t.Fatalf("place: %v (replayed %v)", err, replayed)
	}
	return o
}

func (e *orderEnv) get(id uuid.UUID) ordering.Order {
	e.t.Helper()
	o, err := e.Orders.Get(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("get order %s: %v", id, err)
	}
	return o
}

// confirm confirms with a fresh key and must succeed.
func (e *orderEnv) confirm(id uuid.UUID) {
	e.t.Helper()
	if _, err := e.svc.Confirm(e.t.Context(), id, uuid.NewString(), renderOrder(nil)); err != nil {
		e.t.Fatalf("confirm %s: %v", id, err)
	}
}

func (e *orderEnv) cancel(id uuid.UUID) ordering.Order {
	e.t.Helper()
	o, err := e.svc.Cancel(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("cancel %s: %v", id, err)
	}
	return o
}

// allOrders follows next cursors from the first page to the last.
func (e *orderEnv) allOrders(q ordering.Query, limit int) []ordering.Order {
	e.t.Helper()
	var all []ordering.Order
	q.Page = page.Request{Limit: limit}
	for range 1000 {
		p, err := e.svc.Search(e.t.Context(), q)
		if err != nil {
			e.t.Fatalf("search orders: %v", err)
		}
		if len(p.Items) > limit || (p.HasMore && (p.Next == nil || len(p.Items) != limit)) || (!p.HasMore && p.Next != nil) {
			e.t.Fatalf("inconsistent page: %d items, limit %d, has_more %v, next %v", len(p.Items), limit, p.HasMore, p.Next)
		}
		all = append(all, p.Items...)
		if !p.HasMore {
			return all
		}
		q.Page.After = p.Next
	}
	e.t.Fatal("order search never reached its last page")
	return nil
}

// renderOrder returns a confirm renderer that counts its calls in calls
// (when not nil) and writes the call's number into the bytes, so that a
// second rendering can never pass for a replay of the first.
func renderOrder(calls *atomic.Int64) func(ordering.Order) ([]byte, error) {
	var own atomic.Int64
	if calls == nil {
		calls = &own
	}
	return func(o ordering.Order) ([]byte, error) {
		n := calls.Add(1)
		confirmed := ""
		if o.ConfirmedAt != nil {
			confirmed = o.ConfirmedAt.Format(time.RFC3339Nano)
		}
		return fmt.Appendf(nil, `{"id":%q,"status":%q,"total_cents":%d,"items":%d,"confirmed_at":%q,"rendering":%d}`,
			o.ID, o.Status, o.TotalCents, len(o.Items), confirmed, n), nil
	}
}

func checkOrder(t *testing.T, got, want ordering.Order) {
	t.Helper()
	sameTime := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	if got.ID != want.ID || got.CustomerID != want.CustomerID || got.Status != want.Status ||
		got.TotalCents != want.TotalCents || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) ||
		!sameTime(got.ConfirmedAt, want.ConfirmedAt) || !sameTime(got.CanceledAt, want.CanceledAt) ||
		!slices.Equal(got.Items, want.Items) {
		t.Fatalf("got order\n%s\nwant\n%s", formatOrder(got), formatOrder(want))
	}
}

func formatOrder(o ordering.Order) string {
	return fmt.Sprintf("{id %s customer %s %s total %d created %s updated %s confirmed %v canceled %v items %+v}",
		o.ID, o.CustomerID, o.Status, o.TotalCents, o.CreatedAt, o.UpdatedAt, o.ConfirmedAt, o.CanceledAt, o.Items)
}

// shortagesOf returns the short lines an insufficient_stock error carries.
func shortagesOf(t *testing.T, err error) []ordering.Shortage {
	t.Helper()
	mustFailWith(t, err, errs.InsufficientStock)
	var e *errs.Error
	errors.As(err, &e)
	short, ok := e.Details.([]ordering.Shortage)
	if !ok {
		t.Fatalf("insufficient_stock details are %T, want []ordering.Shortage", e.Details)
	}
	return short
}

func byProductID(a, b ordering.Shortage) int { return bytes.Compare(a.ProductID[:], b.ProductID[:]) }

func orderPlaceSnapshotsPrices(t *testing.T, e *orderEnv) {
	a := e.product("A", 1299, 10)
	b := e.product("B", 500, 4)
	o := e.place(orderLine(b, 2), orderLine(a, 3), orderLine(b, 1)) // b's lines merge

	want := ordering.Order{
		ID: o.ID, CustomerID: e.customer, Status: ordering.Created, TotalCents: 3*1299 + 3*500,
		CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now(),
		Items: []ordering.Item{
			{ProductID: a.ID, Qty: 3, UnitPriceCents: 1299, SubtotalCents: 3 * 1299},
			{ProductID: b.ID, Qty: 3, UnitPriceCents: 500, SubtotalCents: 3 * 500},
		},
	}
	slices.SortFunc(want.Items, func(x, y ordering.Item) int { return bytes.Compare(x.ProductID[:], y.ProductID[:]) })
	checkOrder(t, o, want)
	checkOrder(t, e.get(o.ID), want)
	for _, c := range []struct {
		p     catalog.Product
		stock int64
	}{{a, 7}, {b, 1}} {
		if got := getProduct(t, e.Products, c.p.ID); got.Stock != c.stock || got.Version != 2 {
			t.Fatalf("product %s: stock %d version %d, want stock %d version 2", c.p.SKU, got.Stock, got.Version, c.stock)
		}
	}

	if _, err := e.Products.Update(t.Context(), a.ID, func(p *catalog.Product) error { p.PriceCents = 9999; return nil }); err != nil {
		t.Fatal(err)
	}
	checkOrder(t, e.get(o.ID), want)
}

func orderPlaceUnknownProduct(t *testing.T, e *orderEnv) {
	a := e.product("A", 100, 5)
	unknown := uuid.New()
	_, _, err := e.placeWith(e.svc, "k-unknown", orderLine(a, 1), ordering.Line{ProductID: unknown, Qty: 1})
	mustFailWith(t, err, errs.ProductNotFound)
	if !strings.Contains(err.Error(), unknown.String()) {
		t.Fatalf("error %q does not name the unknown product %s", err, unknown)
	}
	if got := getProduct(t, e.Products, a.ID); got.Stock != 5 || got.Version != 1 {
		t.Fatalf("known product changed: stock %d version %d", got.Stock, got.Version)
	}
	if all := e.allOrders(ordering.Query{}, 10); len(all) != 0 {
		t.Fatalf("%d orders written", len(all))
	}
}

func orderPlaceShortStock(t *testing.T, e *orderEnv) {
	a := e.product("A", 100, 2)
	b := e.product("B", 100, 1)
	c := e.product("C", 100, 10)
	_, _, err := e.placeWith(e.svc, "", orderLine(c, 1), orderLine(a, 3), orderLine(b, 2))
	got := shortagesOf(t, err)
	want := []ordering.Shortage{{ProductID: a.ID, Available: 2, Requested: 3}, {ProductID: b.ID, Available: 1, Requested: 2}}
	slices.SortFunc(got, byProductID)
	slices.SortFunc(want, byProductID)
	if !slices.Equal(got, want) {
		t.Fatalf("shortages %+v, want %+v", got, want)
	}
	for _, p := range []catalog.Product{a, b, c} {
		if got := getProduct(t, e.Products, p.ID); got.Stock != p.Stock || got.Version != 1 {
			t.Fatalf("product %s changed: stock %d version %d", p.SKU, got.Stock, got.Version)
		}
	}
	if all := e.allOrders(ordering.Query{}, 10); len(all) != 0 {
		t.Fatalf("%d orders written", len(all))
	}
}

func orderGetUnknown(t *testing.T, e *orderEnv) {
	_, err := e.Orders.Get(t.Context(), uuid.New())
	mustFailWith(t, err, errs.NotFound)
}

func orderSearch(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 1000)
	other := uuid.New()
	base := e.clock.Now()
	at := func(i int) time.Time { return base.Add(time.Duration(i/2) * time.Second) }
	var placed []ordering.Order
	for i := range 14 {
		// Pairs of orders share a creation time: pages break ties on id.
		e.clock.Set(at(i))
		cust := e.customer
		if i%3 == 0 {
			cust = other
		}
		o, _, err := e.svc.Place(t.Context(), ordering.PlaceRequest{CustomerID: cust, Lines: []ordering.Line{orderLine(p, int64(1+i%2))}})
		if err != nil {
			t.Fatal(err)
		}
		switch i % 4 {
		case 1:
			e.confirm(o.ID)
		case 2:
			e.cancel(o.ID)
		}
		placed = append(placed, e.get(o.ID))
	}
	slices.SortFunc(placed, func(a, b ordering.Order) int { return compareNewestFirst(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })

	for _, c := range []struct {
		name  string
		q     ordering.Query
		limit int
		keep  func(ordering.Order) bool
	}{
		{"all", ordering.Query{}, 4, func(ordering.Order) bool { return true }},
		{"all in one page", ordering.Query{}, 100, func(ordering.Order) bool { return true }},
		{"confirmed", ordering.Query{Status: ordering.Confirmed}, 2,
			func(o ordering.Order) bool { return o.Status == ordering.Confirmed }},
		{"customer", ordering.Query{CustomerID: other}, 3,
			func(o ordering.Order) bool { return o.CustomerID == other }},
		{"from and to, both inclusive", ordering.Query{From: at(4), To: at(8)}, 2,
			func(o ordering.Order) bool { return !o.CreatedAt.Before(at(4)) && !o.CreatedAt.After(at(8)) }},
		{"created for a customer since", ordering.Query{Status: ordering.Created, CustomerID: e.customer, From: at(2)}, 1,
			func(o ordering.Order) bool {
				return o.Status == ordering.Created && o.CustomerID == e.customer && !o.CreatedAt.Before(at(2))
			}},
		{"nothing", ordering.Query{From: at(100)}, 5, func(ordering.Order) bool { return false }},
	} {
		want := slices.DeleteFunc(slices.Clone(placed), func(o ordering.Order) bool { return !c.keep(o) })
		got := e.allOrders(c.q, c.limit)
		if len(got) != len(want) {
			t.Fatalf("%s: listed %d orders, want %d", c.name, len(got), len(want))
		}
		for i := range want {
			checkOrder(t, got[i], want[i])
		}
	}
}

// runConcurrently runs fn(i) for i in [0, n) on n goroutines released
// together, and waits for all of them.
func runConcurrently(n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func orderConcurrentScarceStock(t *testing.T, e *orderEnv) {
	p := e.product("SCARCE", 100, 10)
	const n = 50
	failed := make([]error, n)
	runConcurrently(n, func(i int) {
		_, _, failed[i] = e.placeWith(e.svc, "", orderLine(p, 1))
	})
	placed := 0
	for _, err := range failed {
		if err == nil {
			placed++
			continue
		}
		short := shortagesOf(t, err)
		if want := []ordering.Shortage{{ProductID: p.ID, Available: 0, Requested: 1}}; !slices.Equal(short, want) {
			t.Fatalf("shortages %+v, want %+v", short, want)
		}
	}
	if placed != 10 {
		t.Fatalf("%d of %d orders placed on a stock of 10", placed, n)
	}
	if s := e.stock(p); s != 0 {
		t.Fatalf("stock %d, want 0", s)
	}
	if all := e.allOrders(ordering.Query{}, 100); len(all) != 10 {
		t.Fatalf("%d orders stored, want 10", len(all))
	}
}

// orderConcurrentMultiLine places orders over the same products listed in
// opposite orders, canceling some as it goes. Whatever interleaving the
// database picks, a caller sees success or insufficient stock only, and no
// unit of stock is created or lost.
func orderConcurrentMultiLine(t *testing.T, e *orderEnv) {
	// M1's lines ask for 60 units in all, and cancels give back at most 10
	// of them (the canceled orders ask for 1 each): some placements must
	// fall short.
	products := []catalog.Product{e.product("M1", 100, 30), e.product("M2", 200, 30), e.product("M3", 300, 30)}
	const n = 30
	failed := make([]error, n)
	runConcurrently(n, func(i int) {
		var lines []ordering.Line
		for j, p := range products {
			if i%5 == 0 && j == 1 {
				continue // some orders skip the middle product
			}
			lines = append(lines, orderLine(p, int64(1+(i+j)%3)))
		}
		if i%2 == 1 {
			slices.Reverse(lines)
		}
		o, _, err := e.placeWith(e.svc, "", lines...)
		if err == nil && i%3 == 0 {
			_, err = e.svc.Cancel(context.Background(), o.ID)
		}
		failed[i] = err
	})
	short := 0
	for _, err := range failed {
		if err != nil && !errs.Is(err, errs.InsufficientStock) {
			t.Fatalf("a caller got %v; only insufficient_stock may fail a placement", err)
		}
		if err != nil {
			short++
		}
	}
	all := e.allOrders(ordering.Query{}, 100)
	if short == 0 || len(all) == 0 || len(all)+short != n {
		t.Fatalf("%d orders stored and %d refused for short stock, of %d", len(all), short, n)
	}
	taken := map[uuid.UUID]int64{}
	for _, o := range all {
		if o.Status == ordering.Canceled {
			continue
		}
		for _, it := range o.Items {
			taken[it.ProductID] += it.Qty
		}
	}
	for _, p := range products {
		if left := e.stock(p); left+taken[p.ID] != p.Stock {
			t.Errorf("product %s: %d left + %d in live orders != %d at start", p.SKU, left, taken[p.ID], p.Stock)
		}
	}
}

func orderPlaceKeyReplay(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	first, replayed, err := e.placeWith(e.svc, "place-1", orderLine(p, 2))
	if err != nil || replayed {
		t.Fatalf("first place: %v (replayed %v)", err, replayed)
	}
	again, replayed, err := e.placeWith(e.svc, "place-1", orderLine(p, 2))
	if err != nil || !replayed {
		t.Fatalf("repeat: %v (replayed %v)", err, replayed)
	}
	checkOrder(t, again, first)

	_, _, err = e.placeWith(e.svc, "place-1", orderLine(p, 3))
	mustFailWith(t, err, errs.IdempotencyKeyReused)
	_, _, err = e.svc.Place(t.Context(), ordering.PlaceRequest{CustomerID: uuid.New(), Lines: []ordering.Line{orderLine(p, 2)}, IdempotencyKey: "place-1"})
	mustFailWith(t, err, errs.IdempotencyKeyReused)

	if s := e.stock(p); s != 8 {
		t.Fatalf("stock %d, want 8: taken once", s)
	}
	if all := e.allOrders(ordering.Query{}, 10); len(all) != 1 {
		t.Fatalf("%d orders stored, want 1", len(all))
	}
}

func orderPlaceKeyConcurrent(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 100)
	const n = 10
	orders := make([]ordering.Order, n)
	replays := make([]bool, n)
	failed := make([]error, n)
	runConcurrently(n, func(i int) {
		orders[i], replays[i], failed[i] = e.placeWith(e.svc, "same-key", orderLine(p, 3))
	})
	fresh := 0
	for i := range n {
		if failed[i] != nil {
			t.Fatalf("attempt %d: %v", i, failed[i])
		}
		if orders[i].ID != orders[0].ID {
			t.Fatalf("attempts got orders %s and %s", orders[0].ID, orders[i].ID)
		}
		if !replays[i] {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d attempts report placing the order, want 1", fresh)
	}
	if s := e.stock(p); s != 97 {
		t.Fatalf("stock %d, want 97: taken once", s)
	}
	if all := e.allOrders(ordering.Query{}, 10); len(all) != 1 {
		t.Fatalf("%d orders stored, want 1", len(all))
	}
}

func orderPlaceFailureKeepsKeyFree(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 1)
	_, _, err := e.placeWith(e.svc, "retry-me", orderLine(p, 2))
	mustFailWith(t, err, errs.InsufficientStock)
	if _, err := e.Products.Update(t.Context(), p.ID, func(cur *catalog.Product) error { cur.Stock = 5; return nil }); err != nil {
		t.Fatal(err)
	}
	o, replayed, err := e.placeWith(e.svc, "retry-me", orderLine(p, 2))
	if err != nil || replayed {
		t.Fatalf("retry after restock: %v (replayed %v)", err, replayed)
	}
	if s := e.stock(p); s != 3 || o.TotalCents != 200 {
		t.Fatalf("stock %d total %d, want 3 and 200", s, o.TotalCents)
	}
}

// orderKeysScoped uses one key to place and then to confirm, as the
// orchestrator does.
func orderKeysScoped(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	o, _, err := e.placeWith(e.svc, "flow-1", orderLine(p, 1))
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.Confirm(t.Context(), o.ID, "flow-1", renderOrder(nil))
	if err != nil || c.Replayed {
		t.Fatalf("confirm with the placing key: %v (replayed %v)", err, c.Replayed)
	}
	again, replayed, err := e.placeWith(e.svc, "flow-1", orderLine(p, 1))
	if err != nil || !replayed || again.ID != o.ID || again.Status != ordering.Confirmed {
		t.Fatalf("place replay after confirm: %v (replayed %v, %s %s)", err, replayed, again.ID, again.Status)
	}
}

func orderConfirmConcurrent(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	o := e.place(orderLine(p, 2))
	const n = 20
	var renders atomic.Int64
	render := renderOrder(&renders)
	results := make([]ordering.Confirmation, n)
	failed := make([]error, n)
	runConcurrently(n, func(i int) {
		results[i], failed[i] = e.svc.Confirm(context.Background(), o.ID, "confirm-once", render)
	})
	fresh := 0
	for i := range n {
		if failed[i] != nil {
			t.Fatalf("confirm %d: %v", i, failed[i])
		}
		if !bytes.Equal(results[i].Body, results[0].Body) {
			t.Fatalf("answers differ:\n%s\n%s", results[0].Body, results[i].Body)
		}
		if !results[i].Replayed {
			fresh++
		}
	}
	if fresh != 1 || renders.Load() != 1 {
		t.Fatalf("%d fresh answers and %d renderings, want 1 and 1", fresh, renders.Load())
	}
	if got := e.get(o.ID); got.Status != ordering.Confirmed || got.ConfirmedAt == nil {
		t.Fatalf("order is %s, confirmed at %v", got.Status, got.ConfirmedAt)
	}
}

func orderConfirmReplay(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	o := e.place(orderLine(p, 1))
	var renders atomic.Int64
	first, err := e.svc.Confirm(t.Context(), o.ID, "k1", renderOrder(&renders))
	if err != nil || first.Replayed || len(first.Body) == 0 {
		t.Fatalf("confirm: %v (replayed %v, %d bytes)", err, first.Replayed, len(first.Body))
	}
	// The order moves on; the key still answers what it answered first.
	e.clock.Advance(time.Minute)
	e.cancel(o.ID)
	again, err := e.svc.Confirm(t.Context(), o.ID, "k1", renderOrder(&renders))
	if err != nil || !again.Replayed || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("replay: %v (replayed %v)\n%s\nwant\n%s", err, again.Replayed, again.Body, first.Body)
	}
	if renders.Load() != 1 {
		t.Fatalf("rendered %d times, want 1", renders.Load())
	}
}

func orderConfirmKeyReused(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	a, b := e.place(orderLine(p, 1)), e.place(orderLine(p, 1))
	if _, err := e.svc.Confirm(t.Context(), a.ID, "shared", renderOrder(nil)); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Confirm(t.Context(), b.ID, "shared", renderOrder(nil))
	mustFailWith(t, err, errs.IdempotencyKeyReused)
	if got := e.get(b.ID); got.Status != ordering.Created {
		t.Fatalf("order b is %s, want CREATED", got.Status)
	}
}

func orderConfirmAgain(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	o := e.place(orderLine(p, 1))
	e.confirm(o.ID)
	confirmed := e.get(o.ID)
	e.clock.Advance(time.Minute)
	c, err := e.svc.Confirm(t.Context(), o.ID, "another-key", renderOrder(nil))
	if err != nil || c.Replayed {
		t.Fatalf("confirm with a new key: %v (replayed %v)", err, c.Replayed)
	}
	if !bytes.Contains(c.Body, []byte(confirmed.ConfirmedAt.Format(time.RFC3339Nano))) {
		t.Fatalf("answer %s does not show the first confirmation time %s", c.Body, confirmed.ConfirmedAt)
	}
	checkOrder(t, e.get(o.ID), confirmed)
}

func orderConfirmCanceled(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	a, b := e.place(orderLine(p, 1)), e.place(orderLine(p, 1))
	e.cancel(a.ID)
	var renders atomic.Int64
	_, err := e.svc.Confirm(t.Context(), a.ID, "k", renderOrder(&renders))
	mustFailWith(t, err, errs.InvalidTransition)
	if got := e.get(a.ID); got.Status != ordering.Canceled || renders.Load() != 0 {
		t.Fatalf("order is %s after %d renderings", got.Status, renders.Load())
	}
	// Had the key been stored for a, it would be refused for b.
	if c, err := e.svc.Confirm(t.Context(), b.ID, "k", renderOrder(nil)); err != nil || c.Replayed {
		t.Fatalf("key after a failed confirm: %v (replayed %v)", err, c.Replayed)
	}
}

func orderConfirmUnknown(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	_, err := e.svc.Confirm(t.Context(), uuid.New(), "k", renderOrder(nil))
	mustFailWith(t, err, errs.NotFound)
	o := e.place(orderLine(p, 1))
	if c, err := e.svc.Confirm(t.Context(), o.ID, "k", renderOrder(nil)); err != nil || c.Replayed {
		t.Fatalf("key after confirming an unknown order: %v (replayed %v)", err, c.Replayed)
	}
}

func orderConfirmRenderError(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	o := e.place(orderLine(p, 1))
	broken := errors.New("render failed")
	_, err := e.svc.Confirm(t.Context(), o.ID, "k", func(ordering.Order) ([]byte, error) { return nil, broken })
	if !errors.Is(err, broken) {
		t.Fatalf("got %v, want the render error", err)
	}
	checkOrder(t, e.get(o.ID), o)
	if c, err := e.svc.Confirm(t.Context(), o.ID, "k", renderOrder(nil)); err != nil || c.Replayed {
		t.Fatalf("confirm after a failed one: %v (replayed %v)", err, c.Replayed)
	}
}

func orderCancelTwice(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	o := e.place(orderLine(p, 3))
	e.clock.Advance(time.Second)
	first := e.cancel(o.ID)
	if first.Status != ordering.Canceled || first.CanceledAt == nil || !first.CanceledAt.Equal(e.clock.Now()) {
		t.Fatalf("canceled order is %s, canceled at %v", first.Status, first.CanceledAt)
	}
	checkOrder(t, e.get(o.ID), first)
	if s := e.stock(p); s != 10 {
		t.Fatalf("stock %d after cancel, want 10", s)
	}
	e.clock.Advance(time.Second)
	checkOrder(t, e.cancel(o.ID), first)
	checkOrder(t, e.get(o.ID), first)
	if s := e.stock(p); s != 10 {
		t.Fatalf("stock %d after second cancel, want 10", s)
	}
}

func orderCancelConcurrent(t *testing.T, e *orderEnv) {
	a, b := e.product("A", 100, 10), e.product("B", 100, 10)
	o := e.place(orderLine(a, 4), orderLine(b, 1))
	const n = 10
	failed := make([]error, n)
	runConcurrently(n, func(i int) {
		_, failed[i] = e.svc.Cancel(context.Background(), o.ID)
	})
	for _, err := range failed {
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
	}
	if sa, sb := e.stock(a), e.stock(b); sa != 10 || sb != 10 {
		t.Fatalf("stock %d and %d after %d cancels, want 10 and 10", sa, sb, n)
	}
}

func orderCancelWindow(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	late := e.place(orderLine(p, 2))
	e.confirm(late.ID)
	e.clock.Advance(suiteCancelWindow + time.Microsecond)
	_, err := e.svc.Cancel(t.Context(), late.ID)
	mustFailWith(t, err, errs.CancelWindowExpired)
	if got := e.get(late.ID); got.Status != ordering.Confirmed {
		t.Fatalf("order is %s, want CONFIRMED", got.Status)
	}
	if s := e.stock(p); s != 8 {
		t.Fatalf("stock %d, want 8: nothing given back", s)
	}

	inTime := e.place(orderLine(p, 3))
	e.confirm(inTime.ID)
	e.clock.Advance(suiteCancelWindow)
	if got := e.cancel(inTime.ID); got.Status != ordering.Canceled {
		t.Fatalf("order is %s, want CANCELED", got.Status)
	}
	if s := e.stock(p); s != 8 {
		t.Fatalf("stock %d, want 8: the canceled order's 3 given back", s)
	}
}

func orderExpiredKeyReused(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	past := e.pastService()
	old, _, err := e.placeWith(past, "old-key", orderLine(p, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := past.Confirm(t.Context(), old.ID, "old-confirm", renderOrder(nil)); err != nil {
		t.Fatal(err)
	}

	// Another request under the expired key is a new request, not a reuse.
	fresh, replayed, err := e.placeWith(e.svc, "old-key", orderLine(p, 2))
	if err != nil || replayed || fresh.ID == old.ID {
		t.Fatalf("place under an expired key: %v (replayed %v, order %s, old %s)", err, replayed, fresh.ID, old.ID)
	}
	if s := e.stock(p); s != 7 {
		t.Fatalf("stock %d, want 7", s)
	}
	c, err := e.svc.Confirm(t.Context(), fresh.ID, "old-confirm", renderOrder(nil))
	if err != nil || c.Replayed {
		t.Fatalf("confirm under an expired key: %v (replayed %v)", err, c.Replayed)
	}
	// The key now lives again, for the new request.
	again, replayed, err := e.placeWith(e.svc, "old-key", orderLine(p, 2))
	if err != nil || !replayed || again.ID != fresh.ID {
		t.Fatalf("repeat under the renewed key: %v (replayed %v)", err, replayed)
	}
}

func orderPurge(t *testing.T, e *orderEnv) {
	p := e.product("P", 100, 10)
	past := e.pastService()
	o, _, err := e.placeWith(past, "old-1", orderLine(p, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.placeWith(past, "old-2", orderLine(p, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := past.Confirm(t.Context(), o.ID, "old-3", renderOrder(nil)); err != nil {
		t.Fatal(err)
	}
	live, _, err := e.placeWith(e.svc, "live", orderLine(p, 1))
	if err != nil {
		t.Fatal(err)
	}

	// The old keys expired a key lifetime ago: not yet before that.
	if n, err := e.Keys.Purge(t.Context(), time.Now().Add(-suiteKeyTTL-time.Hour)); err != nil || n != 0 {
		t.Fatalf("purge before the keys expired: %d purged, %v", n, err)
	}
	if n, err := e.Keys.Purge(t.Context(), time.Now()); err != nil || n != 3 {
		t.Fatalf("purge: %d purged, %v; want 3", n, err)
	}
	if n, err := e.Keys.Purge(t.Context(), time.Now()); err != nil || n != 0 {
		t.Fatalf("second purge: %d purged, %v; want 0", n, err)
	}
	again, replayed, err := e.placeWith(e.svc, "live", orderLine(p, 1))
	if err != nil || !replayed || again.ID != live.ID {
		t.Fatalf("the live key was lost: %v (replayed %v)", err, replayed)
	}
	if _, replayed, err := e.placeWith(e.svc, "old-1", orderLine(p, 1)); err != nil || replayed {
		t.Fatalf("place under a purged key: %v (replayed %v)", err, replayed)
	}
}
