package contract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/page"
)

// RunProductStoreSuite proves a catalog.Store. newStore returns an empty
// store of its own for each case.
func RunProductStoreSuite(t *testing.T, newStore func(t *testing.T) catalog.Store) {
	cases := []struct {
		name string
		run  func(t *testing.T, s catalog.Store)
	}{
		{"CreateThenGet", productCreateThenGet},
		{"GetUnknownIsNotFound", productGetUnknown},
		{"DuplicateSKUIsTakenAndWritesNothing", productDuplicateSKU},
		{"SearchPagesHaveNoGapsOrRepeats", productSearchPages},
		{"SearchMatchesSKUOrNameLiterally", productSearchMatches},
		{"UpdateBumpsVersion", productUpdateBumpsVersion},
		{"UpdateFnErrorRollsBack", productUpdateFnErrorRollsBack},
		{"UpdateUnknownIsNotFound", productUpdateUnknown},
		{"ConcurrentUpdatesLoseNothing", productConcurrentUpdates},
		{"CreateOpensTheLedger", productCreateOpensLedger},
		{"UpdateOfStockWritesTheDifference", productUpdateWritesSet},
		{"AdjustMovesStockRelatively", productAdjust},
		{"AdjustRefusesBadInputAndWritesNothing", productAdjustInvalid},
		{"AdjustBelowZeroIsRefusedWhole", productAdjustBelowZero},
		{"AdjustUnknownIsNotFound", productAdjustUnknown},
		{"ConcurrentAdjustmentsLoseNothing", productConcurrentAdjustments},
		{"ConcurrentAdjustmentsAndUpdatesKeepTheLedger", productConcurrentAdjustAndSet},
		{"MovementsPageNewestFirst", productMovementsPages},
		{"MovementsOfUnknownIsNotFound", productMovementsUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			c.run(t, s)
			CheckLedger(t, s)
		})
	}
}

// newTestProduct returns a product ready to create, at version 1.
func newTestProduct(t *testing.T, sku, name string, price, stock int64, created time.Time) catalog.Product {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	created = created.UTC().Truncate(time.Microsecond)
	return catalog.Product{ID: id, SKU: sku, Name: name, PriceCents: price, Stock: stock, Version: 1, CreatedAt: created, UpdatedAt: created}
}

func createProduct(t *testing.T, s catalog.Store, sku, name string, price, stock int64) catalog.Product {
	t.Helper()
	p := newTestProduct(t, sku, name, price, stock, time.Now())
	if err := s.Create(t.Context(), p); err != nil {
		t.Fatalf("create product %s: %v", sku, err)
	}
	return p
}

func getProduct(t *testing.T, s catalog.Store, id uuid.UUID) catalog.Product {
	t.Helper()
	p, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("get product %s: %v", id, err)
	}
	return p
}

// mustFailWith fails t unless err carries the code.
func mustFailWith(t *testing.T, err error, code errs.Code) {
	t.Helper()
	if !errs.Is(err, code) {
		t.Fatalf("got error %v, want code %s", err, code)
	}
}

func checkProduct(t *testing.T, got, want catalog.Product) {
	t.Helper()
	if got.ID != want.ID || got.SKU != want.SKU || got.Name != want.Name || got.PriceCents != want.PriceCents ||
		got.Stock != want.Stock || got.Version != want.Version ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("got product %+v, want %+v", got, want)
	}
}

func productCreateThenGet(t *testing.T, s catalog.Store) {
	p := createProduct(t, s, "SKU-1", "Hex bolt M8", 1299, 40)
	checkProduct(t, getProduct(t, s, p.ID), p)
}

func productGetUnknown(t *testing.T, s catalog.Store) {
	_, err := s.Get(t.Context(), uuid.New())
	mustFailWith(t, err, errs.NotFound)
}

func productDuplicateSKU(t *testing.T, s catalog.Store) {
	createProduct(t, s, "SKU-DUP", "First", 100, 1)
	second := newTestProduct(t, "SKU-DUP", "Second", 200, 2, time.Now())
	mustFailWith(t, s.Create(t.Context(), second), errs.SKUTaken)
	_, err := s.Get(t.Context(), second.ID)
	mustFailWith(t, err, errs.NotFound)
}

// searchAllProducts follows next cursors from the first page to the last,
// checking each page's bookkeeping on the way.
func searchAllProducts(t *testing.T, s catalog.Store, search string, limit int) []catalog.Product {
	t.Helper()
	var all []catalog.Product
	var after *page.Cursor
	for range 1000 {
		p, err := s.Search(t.Context(), catalog.Query{Search: search, Page: page.Request{Limit: limit, After: after}})
		if err != nil {
			t.Fatalf("search %q: %v", search, err)
		}
		if p.Limit != limit || len(p.Items) > limit {
			t.Fatalf("page of %d items with limit %d, asked for %d", len(p.Items), p.Limit, limit)
		}
		all = append(all, p.Items...)
		if !p.HasMore {
			if p.Next != nil {
				t.Fatalf("last page has a next cursor")
			}
			return all
		}
		if p.Next == nil || len(p.Items) != limit {
			t.Fatalf("page with more to come has %d items and next cursor %v", len(p.Items), p.Next)
		}
		after = p.Next
	}
	t.Fatal("search never reached its last page")
	return nil
}

// compareNewestFirst orders by creation time, then id, both descending: the
// order of every list.
func compareNewestFirst(aCreated time.Time, aID uuid.UUID, bCreated time.Time, bID uuid.UUID) int {
	if c := bCreated.Compare(aCreated); c != 0 {
		return c
	}
	return bytes.Compare(bID[:], aID[:])
}

func productSearchPages(t *testing.T, s catalog.Store) {
	// Groups of three products share a creation time, so pages must break
	// ties on the id to have no gaps or repeats.
	base := time.Now().Add(-time.Hour)
	var want []catalog.Product
	for i := range 23 {
		p := newTestProduct(t, fmt.Sprintf("PAGE-%02d", i), "Item", 100, 1, base.Add(time.Duration(i/3)*time.Second))
		if err := s.Create(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	slices.SortFunc(want, func(a, b catalog.Product) int { return compareNewestFirst(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	for _, limit := range []int{1, 5, 23, 100} {
		got := searchAllProducts(t, s, "", limit)
		if len(got) != len(want) {
			t.Fatalf("limit %d: listed %d products, want %d", limit, len(got), len(want))
		}
		for i := range want {
			if got[i].ID != want[i].ID {
				t.Fatalf("limit %d: product %d is %s (%s), want %s (%s)", limit, i, got[i].SKU, got[i].ID, want[i].SKU, want[i].ID)
			}
		}
	}
}

func productSearchMatches(t *testing.T, s catalog.Store) {
	bolt := createProduct(t, s, "BOLT-8", "Hex bolt", 100, 1)
	nut := createProduct(t, s, "NUT-8", "Nut for a bolt", 100, 1)
	percent := createProduct(t, s, "SALE-1", "50% off washers", 100, 1)
	createProduct(t, s, "SALE-2", "500 off washers", 100, 1)
	underscore := createProduct(t, s, "A_1", "Spacer", 100, 1)
	createProduct(t, s, "AB1", "Spacer", 100, 1)

	for _, c := range []struct {
		search string
		want   []catalog.Product
	}{
		{"BOLT", []catalog.Product{bolt, nut}}, // sku of one, name of the other
		{"NUT-8", []catalog.Product{nut}},
		{"50%", []catalog.Product{percent}},    // % is a character, not a wildcard
		{"A_1", []catalog.Product{underscore}}, // so is _
		{"no such thing", nil},
	} {
		got := searchAllProducts(t, s, c.search, 10)
		var gotIDs, wantIDs []uuid.UUID
		for _, p := range got {
			gotIDs = append(gotIDs, p.ID)
		}
		for _, p := range c.want {
			wantIDs = append(wantIDs, p.ID)
		}
		slices.SortFunc(gotIDs, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		slices.SortFunc(wantIDs, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		if !slices.Equal(gotIDs, wantIDs) {
			t.Errorf("search %q found %v, want %v", c.search, gotIDs, wantIDs)
		}
	}
}

func productUpdateBumpsVersion(t *testing.T, s catalog.Store) {
	p := createProduct(t, s, "SKU-V", "Old name", 100, 5)
	later := p.UpdatedAt.Add(time.Minute)
	got, err := s.Update(t.Context(), p.ID, func(cur *catalog.Product) error {
		if cur.Version != 1 {
			return fmt.Errorf("fn saw version %d, want 1", cur.Version)
		}
		cur.Name, cur.PriceCents, cur.Stock, cur.UpdatedAt = "New name", 250, 9, later
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := p
	want.Name, want.PriceCents, want.Stock, want.UpdatedAt, want.Version = "New name", 250, 9, later, 2
	checkProduct(t, got, want)
	checkProduct(t, getProduct(t, s, p.ID), want)

	got, err = s.Update(t.Context(), p.ID, func(cur *catalog.Product) error { cur.Stock = 10; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 3 || getProduct(t, s, p.ID).Version != 3 {
		t.Fatalf("second update left version %d, want 3", got.Version)
	}
}

func productUpdateFnErrorRollsBack(t *testing.T, s catalog.Store) {
	p := createProduct(t, s, "SKU-R", "Name", 100, 5)
	refused := errs.New(errs.PreconditionFailed, "not at that version")
	_, err := s.Update(t.Context(), p.ID, func(cur *catalog.Product) error {
		cur.Name, cur.Stock = "Changed", 0
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("got %v, want fn's error", err)
	}
	checkProduct(t, getProduct(t, s, p.ID), p)
}

func productUpdateUnknown(t *testing.T, s catalog.Store) {
	called := false
	_, err := s.Update(t.Context(), uuid.New(), func(*catalog.Product) error { called = true; return nil })
	mustFailWith(t, err, errs.NotFound)
	if called {
		t.Fatal("fn was called for a product that does not exist")
	}
}

// productConcurrentUpdates proves Update hands fn the row under a lock:
// read-modify-write from many goroutines loses no increment.
func productConcurrentUpdates(t *testing.T, s catalog.Store) {
	p := createProduct(t, s, "SKU-C", "Name", 100, 0)
	const n = 20
	errc := make(chan error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			_, err := s.Update(context.Background(), p.ID, func(cur *catalog.Product) error {
				cur.Stock++
				return nil
			})
			errc <- err
		})
	}
	close(start)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatalf("concurrent update: %v", err)
		}
	}
	got := getProduct(t, s, p.ID)
	if got.Stock != n || got.Version != n+1 {
		t.Fatalf("after %d increments: stock %d version %d, want stock %d version %d", n, got.Stock, got.Version, n, n+1)
	}
}
