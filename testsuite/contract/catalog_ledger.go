package contract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/audit"
	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/correlation"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/page"
)

// asOperator is a context of a request operator makes, with request id.
func asOperator(ctx context.Context, operator, requestID string) context.Context {
	return correlation.WithID(audit.WithActor(ctx, operator), requestID)
}

// movementOf returns the movement of kind for order among ms, failing t
// unless there is exactly one.
func movementOf(t *testing.T, ms []catalog.Movement, kind catalog.Kind, order uuid.UUID) catalog.Movement {
	t.Helper()
	var found []catalog.Movement
	for _, m := range ms {
		if m.Kind == kind && m.OrderID == order {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s movements for order %s among %+v, want 1", len(found), kind, order, ms)
	}
	return found[0]
}

// wantMovement fails t unless m is a movement of the given kind and delta,
// for the given order (uuid.Nil: none), by actor under requestID.
func wantMovement(t *testing.T, m catalog.Movement, product uuid.UUID, kind catalog.Kind, delta int64, order uuid.UUID, actor, requestID string) {
	t.Helper()
	if m.ProductID != product || m.Kind != kind || m.Delta != delta || m.OrderID != order || m.Actor != actor || m.RequestID != requestID ||
		m.ID.Version() != 7 || m.CreatedAt.IsZero() || m.Reason == "" {
		t.Fatalf("movement %+v, want %s of %d on %s, order %s, by %q under %q, a UUIDv7 id, a time and a reason",
			m, kind, delta, product, order, actor, requestID)
	}
}

func productCreateOpensLedger(t *testing.T, s catalog.Store) {
	p := newTestProduct(t, "SKU-L", "Ledger", 100, 7, time.Now())
	if err := s.Create(asOperator(t.Context(), "alice", "req-1"), p); err != nil {
		t.Fatal(err)
	}
	ms := AllMovements(t, s, p.ID)
	if len(ms) != 1 {
		t.Fatalf("%d movements after creation, want 1", len(ms))
	}
	wantMovement(t, ms[0], p.ID, catalog.Created, 7, uuid.Nil, "alice", "req-1")
	if !ms[0].CreatedAt.Equal(p.CreatedAt) {
		t.Fatalf("movement at %s, product created at %s", ms[0].CreatedAt, p.CreatedAt)
	}
	// A refused creation writes no movement either.
	dup := newTestProduct(t, "SKU-L", "Again", 100, 3, time.Now())
	mustFailWith(t, s.Create(t.Context(), dup), errs.SKUTaken)
	if _, err := s.Movements(t.Context(), catalog.MovementQuery{ProductID: dup.ID, Page: page.Request{Limit: 10}}); !errs.Is(err, errs.NotFound) {
		t.Fatalf("movements of the refused product: %v, want not_found", err)
	}
}

func productUpdateWritesSet(t *testing.T, s catalog.Store) {
	svc := catalog.NewService(s)
	p := createProduct(t, s, "SKU-S", "Set", 100, 10)
	ctx := asOperator(t.Context(), "bob", "req-set")
	stock := int64(4)
	if _, err := svc.Update(ctx, p.ID, catalog.Patch{Stock: &stock}); err != nil {
		t.Fatal(err)
	}
	// A patch that leaves the stock as it is, or does not touch it, moves
	// nothing.
	name := "Renamed"
	if _, err := svc.Update(ctx, p.ID, catalog.Patch{Name: &name, Stock: &stock}); err != nil {
		t.Fatal(err)
	}
	// A stale version changes nothing and writes no movement.
	stale, more := int64(1), int64(50)
	_, err := svc.Update(ctx, p.ID, catalog.Patch{Stock: &more, IfVersion: &stale})
	mustFailWith(t, err, errs.PreconditionFailed)
	ms := AllMovements(t, s, p.ID)
	if len(ms) != 2 {
		t.Fatalf("%d movements, want the creation and one set", len(ms))
	}
	wantMovement(t, ms[0], p.ID, catalog.Set, -6, uuid.Nil, "bob", "req-set")
	if ms[0].Reason != catalog.ReasonSet(4) {
		t.Fatalf("reason %q, want %q", ms[0].Reason, catalog.ReasonSet(4))
	}
	if got := getProduct(t, s, p.ID); got.Stock != 4 {
		t.Fatalf("stock %d, want 4", got.Stock)
	}
}

func productAdjust(t *testing.T, s catalog.Store) {
	svc := catalog.NewService(s)
	p := createProduct(t, s, "SKU-A", "Adjust", 100, 10)
	ctx := asOperator(t.Context(), "carol", "req-adj")
	got, err := svc.Adjust(ctx, catalog.Adjustment{ProductID: p.ID, Delta: -3, Reason: "  damaged in transit "})
	if err != nil {
		t.Fatal(err)
	}
	if got.Stock != 7 || got.Version != 2 || got.SKU != p.SKU {
		t.Fatalf("after -3: %+v, want stock 7 at version 2", got)
	}
	if got, err = svc.Adjust(ctx, catalog.Adjustment{ProductID: p.ID, Delta: 5, Reason: "found in the back"}); err != nil || got.Stock != 12 || got.Version != 3 {
		t.Fatalf("after +5: %+v, %v; want stock 12 at version 3", got, err)
	}
	checkProduct(t, getProduct(t, s, p.ID), got)
	ms := AllMovements(t, s, p.ID)
	if len(ms) != 3 {
		t.Fatalf("%d movements, want 3", len(ms))
	}
	wantMovement(t, ms[0], p.ID, catalog.Adjusted, 5, uuid.Nil, "carol", "req-adj")
	wantMovement(t, ms[1], p.ID, catalog.Adjusted, -3, uuid.Nil, "carol", "req-adj")
	if ms[1].Reason != "damaged in transit" || ms[0].Reason != "found in the back" {
		t.Fatalf("reasons %q, %q", ms[1].Reason, ms[0].Reason)
	}
}

func productAdjustInvalid(t *testing.T, s catalog.Store) {
	svc := catalog.NewService(s)
	p := createProduct(t, s, "SKU-I", "Invalid", 100, 10)
	for _, a := range []catalog.Adjustment{
		{Delta: 0, Reason: "nothing"},
		{Delta: catalog.MaxStock + 1, Reason: "too many"},
		{Delta: -catalog.MaxStock - 1, Reason: "too few"},
		{Delta: 1, Reason: "   "},
		{Delta: 1, Reason: strings.Repeat("é", catalog.MaxReason+1)},
		{Delta: 1, Reason: "tab\there"},
		{Delta: 1, Reason: "bad \xff utf-8"},
	} {
		a.ProductID = p.ID
		_, err := svc.Adjust(t.Context(), a)
		mustFailWith(t, err, errs.Invalid)
	}
	// Both fields at once.
	_, err := svc.Adjust(t.Context(), catalog.Adjustment{ProductID: p.ID})
	var e *errs.Error
	if !errors.As(err, &e) || len(e.Fields) != 2 {
		t.Fatalf("zero delta and no reason: %v, want both fields named", err)
	}
	if got := getProduct(t, s, p.ID); got.Stock != 10 || got.Version != 1 {
		t.Fatalf("refused adjustments changed the product: %+v", got)
	}
	if n := len(AllMovements(t, s, p.ID)); n != 1 {
		t.Fatalf("%d movements, want only the creation", n)
	}
}

func productAdjustBelowZero(t *testing.T, s catalog.Store) {
	svc := catalog.NewService(s)
	p := createProduct(t, s, "SKU-Z", "Zero", 100, 2)
	_, err := svc.Adjust(t.Context(), catalog.Adjustment{ProductID: p.ID, Delta: -3, Reason: "lost"})
	mustFailWith(t, err, errs.InsufficientStock)
	var e *errs.Error
	errors.As(err, &e)
	if short, ok := e.Details.([]catalog.Shortage); !ok || len(short) != 1 || short[0] != (catalog.Shortage{ProductID: p.ID, Available: 2, Requested: 3}) {
		t.Fatalf("details %+v, want 2 available of 3 requested", e.Details)
	}
	if got := getProduct(t, s, p.ID); got.Stock != 2 || got.Version != 1 {
		t.Fatalf("a refused adjustment changed the product: %+v", got)
	}
	if n := len(AllMovements(t, s, p.ID)); n != 1 {
		t.Fatalf("%d movements, want only the creation", n)
	}
	// Down to exactly zero is allowed.
	if got, err := svc.Adjust(t.Context(), catalog.Adjustment{ProductID: p.ID, Delta: -2, Reason: "lost"}); err != nil || got.Stock != 0 {
		t.Fatalf("to zero: %+v, %v", got, err)
	}
}

func productAdjustUnknown(t *testing.T, s catalog.Store) {
	_, err := catalog.NewService(s).Adjust(t.Context(), catalog.Adjustment{ProductID: uuid.New(), Delta: 1, Reason: "x"})
	mustFailWith(t, err, errs.NotFound)
}

// productConcurrentAdjustments runs many adjustments up and down at once on
// a product with little stock: the stock ends at the initial stock plus the
// deltas that succeeded, never having gone below zero (a refused one must
// have been refused for want of stock), and equal to its movements' sum.
func productConcurrentAdjustments(t *testing.T, s catalog.Store) {
	svc := catalog.NewService(s)
	const initial = 5
	p := createProduct(t, s, "SKU-R", "Race", 100, initial)
	const n = 40
	deltas := make([]int64, n)
	for i := range deltas {
		deltas[i] = int64(i%4 + 1)
		if i%2 == 0 {
			deltas[i] = -deltas[i] - 1
		}
	}
	refused := make([]error, n)
	runConcurrently(n, func(i int) {
		_, refused[i] = svc.Adjust(context.Background(), catalog.Adjustment{ProductID: p.ID, Delta: deltas[i], Reason: fmt.Sprint("race ", i)})
	})
	want := int64(initial)
	for i, err := range refused {
		switch {
		case err == nil:
			want += deltas[i]
		case deltas[i] < 0 && errs.Is(err, errs.InsufficientStock):
		default:
			t.Fatalf("adjustment %d of %d: %v", i, deltas[i], err)
		}
	}
	if got := getProduct(t, s, p.ID); got.Stock != want || got.Stock < 0 {
		t.Fatalf("stock %d, want %d: the initial %d plus the deltas that succeeded", got.Stock, want, initial)
	}
	// One movement per adjustment that succeeded, none for the others.
	// (Movements carry the time each change was asked for, which
	// concurrent changes need not commit in, so their order is not
	// replayed here.)
	var sum int64
	moved := 0
	for _, m := range AllMovements(t, s, p.ID) {
		if m.Kind == catalog.Adjusted {
			sum += m.Delta
			moved++
		}
	}
	succeeded := 0
	for _, err := range refused {
		if err == nil {
			succeeded++
		}
	}
	if moved != succeeded || sum != want-initial {
		t.Fatalf("%d adjusted movements adding up to %d; want %d adding up to %d", moved, sum, succeeded, want-initial)
	}
}

// productConcurrentAdjustAndSet races relative adjustments against
// absolute patches of the stock: whatever order they run in, the ledger
// explains the stock.
func productConcurrentAdjustAndSet(t *testing.T, s catalog.Store) {
	svc := catalog.NewService(s)
	p := createProduct(t, s, "SKU-M", "Mixed", 100, 50)
	const n = 30
	var mu sync.Mutex
	var failures []error
	runConcurrently(n, func(i int) {
		var err error
		if i%3 == 0 {
			stock := int64(20 + i)
			_, err = svc.Update(context.Background(), p.ID, catalog.Patch{Stock: &stock})
		} else {
			_, err = svc.Adjust(context.Background(), catalog.Adjustment{ProductID: p.ID, Delta: int64(i%5 - 2 + 10*(i%2)), Reason: "mixed"})
			if errs.Is(err, errs.InsufficientStock) || errs.Is(err, errs.Invalid) {
				err = nil
			}
		}
		if err != nil {
			mu.Lock()
			failures = append(failures, err)
			mu.Unlock()
		}
	})
	for _, err := range failures {
		t.Error(err)
	}
}

func productMovementsPages(t *testing.T, s catalog.Store) {
	svc := catalog.NewService(s)
	p := createProduct(t, s, "SKU-P", "Pages", 100, 0)
	for i := range 11 {
		if _, err := svc.Adjust(t.Context(), catalog.Adjustment{ProductID: p.ID, Delta: int64(i + 1), Reason: fmt.Sprint("step ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	other := createProduct(t, s, "SKU-O", "Other", 100, 3)
	for _, limit := range []int{1, 4, 12, 100} {
		var all []catalog.Movement
		q := catalog.MovementQuery{ProductID: p.ID, Page: page.Request{Limit: limit}}
		for {
			pg, err := s.Movements(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, pg.Items...)
			if !pg.HasMore {
				break
			}
			q.Page.After = pg.Next
		}
		if len(all) != 12 {
			t.Fatalf("limit %d: %d movements, want 12", limit, len(all))
		}
		if !slices.IsSortedFunc(all, func(a, b catalog.Movement) int { return compareNewestFirst(a.CreatedAt, a.ID, b.CreatedAt, b.ID) }) {
			t.Fatalf("limit %d: not newest first", limit)
		}
		if all[0].Delta != 11 || all[11].Kind != catalog.Created {
			t.Fatalf("limit %d: newest %+v, oldest %+v", limit, all[0], all[11])
		}
		for _, m := range all {
			if m.ProductID != p.ID {
				t.Fatalf("a movement of %s in %s's list", m.ProductID, p.ID)
			}
		}
	}
	if n := len(AllMovements(t, s, other.ID)); n != 1 {
		t.Fatalf("the other product has %d movements, want 1", n)
	}
}

func productMovementsUnknown(t *testing.T, s catalog.Store) {
	_, err := s.Movements(t.Context(), catalog.MovementQuery{ProductID: uuid.New(), Page: page.Request{Limit: 10}})
	mustFailWith(t, err, errs.NotFound)
}
