package contract

import (
	"testing"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/page"
)

// CheckLedger fails t unless every product s keeps has exactly the stock
// its movements add up to. Every case of the suites ends with it, the
// concurrent ones included, so the invariant is checked after every race.
func CheckLedger(t testing.TB, s catalog.Store) {
	t.Helper()
	var after *page.Cursor
	for range 10_000 {
		p, err := s.Search(t.Context(), catalog.Query{Page: page.Request{Limit: page.MaxLimit, After: after}})
		if err != nil {
			t.Fatalf("ledger check: list products: %v", err)
		}
		for _, prod := range p.Items {
			if sum := MovementsSum(t, s, prod.ID); sum != prod.Stock {
				// The stock is read before its movements: a change between
				// the two reads would show here, so the check runs when the
				// race is over.
				t.Errorf("ledger: product %s (%s) has stock %d, its movements add up to %d", prod.ID, prod.SKU, prod.Stock, sum)
			}
		}
		if !p.HasMore {
			return
		}
		after = p.Next
	}
	t.Fatal("ledger check: the product list never ended")
}

// AllMovements lists a product's movements, newest first, every page.
func AllMovements(t testing.TB, s catalog.Store, id uuid.UUID) []catalog.Movement {
	t.Helper()
	var all []catalog.Movement
	q := catalog.MovementQuery{ProductID: id, Page: page.Request{Limit: page.MaxLimit}}
	for range 100_000 {
		p, err := s.Movements(t.Context(), q)
		if err != nil {
			t.Fatalf("list movements of %s: %v", id, err)
		}
		if len(p.Items) > q.Page.Limit || (p.HasMore && (p.Next == nil || len(p.Items) != q.Page.Limit)) || (!p.HasMore && p.Next != nil) {
			t.Fatalf("inconsistent page of movements: %d items, has_more %v, next %v", len(p.Items), p.HasMore, p.Next)
		}
		all = append(all, p.Items...)
		if !p.HasMore {
			return all
		}
		q.Page.After = p.Next
	}
	t.Fatal("the movements never ended")
	return nil
}

// MovementsSum adds up a product's movements.
func MovementsSum(t testing.TB, s catalog.Store, id uuid.UUID) int64 {
	t.Helper()
	var sum int64
	for _, m := range AllMovements(t, s, id) {
		sum += m.Delta
	}
	return sum
}
