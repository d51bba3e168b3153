package webhooks_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/events"
	"github.com/b2borders/platform/migrations"
	"github.com/b2borders/platform/testsuite/dbtest"
)

func openOrders(t *testing.T) (*mysql.DB, string) {
	t.Helper()
	dsn := dbtest.NewDatabase(t)
	db, err := mysql.Open(t.Context(), mysql.Config{DSN: dsn, Schema: migrations.Orders})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// A transaction that wrote its event first (the lower id) but commits
// after a reader has paged past a later one is not lost: the feed orders by
// the position given after commit, so the slow event comes after the
// reader's cursor, not before it.
func TestFeedLosesNoSlowCommit(t *testing.T) {
	dbtest.RequireInnoDB(t)
	db, dsn := openOrders(t)
	store := mysql.NewEventStore(db)
	ctx := t.Context()

	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	slow, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback()
	early := uuid.Must(uuid.NewV7())
	if _, err := slow.ExecContext(ctx, `INSERT INTO outbox (id, type, resource_type, resource_id, seq, payload, occurred_at)
		VALUES (?, 'product.stock_changed', 'product', ?, 1, '{}', ?)`, early[:], uuid.New().String()[:16], time.Now().UTC()); err != nil {
		t.Fatal(err)
	}

	time.Sleep(2 * time.Millisecond) // a later UUIDv7 millisecond for the next event
	p, err := catalog.NewService(mysql.NewProductStore(db)).Create(ctx, catalog.NewProduct{SKU: "LATE", Name: "late", Stock: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := store.Events(ctx, events.FeedQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Events) != 1 || first.Events[0].Resource.ID != p.ID {
		t.Fatalf("before the slow commit the feed holds %+v, want the product's event only", first.Events)
	}
	if bytes.Compare(early[:], first.Events[0].ID[:]) >= 0 {
		t.Fatalf("the slow event's id %s is not below the read one's %s: the case is not made", early, first.Events[0].ID)
	}

	if err := slow.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	next, err := store.Events(ctx, events.FeedQuery{After: first.Next, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Events) != 1 || next.Events[0].ID != early {
		t.Fatalf("after the cursor the feed holds %+v, want the slow event %s", next.Events, early)
	}
}

// Writers and two publishers (two replicas) at once: every event gets one
// position, no two the same, and each product's events are in seq order.
func TestConcurrentPublishersGiveEachEventOnePlace(t *testing.T) {
	db, _ := openOrders(t)
	products := catalog.NewService(mysql.NewProductStore(db))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var pubs sync.WaitGroup
	for range 2 {
		store := mysql.NewEventStore(db)
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for ctx.Err() == nil {
				store.Publish(ctx)
			}
		}()
	}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 10 {
				p, err := products.Create(t.Context(), catalog.NewProduct{SKU: fmt.Sprintf("W%d-%d", w, i), Name: "p", Stock: 1})
				if err != nil {
					t.Error(err)
					return
				}
				for n := range int64(3) {
					if _, err := products.Update(t.Context(), p.ID, catalog.Patch{Stock: &n}); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	writers.Wait()
	store := mysql.NewEventStore(db)
	var all []events.Published
	eventually(t, "every event is published", func() bool {
		all = all[:0]
		var after int64
		for {
			p, err := store.Events(t.Context(), events.FeedQuery{After: after, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, p.Events...)
			after = p.Next
			if !p.HasMore {
				break
			}
		}
		// 40 creations, each then patched from stock 1 to 0, 1 and 2.
		return len(all) == 40*4
	})
	cancel()
	pubs.Wait()
	seen := map[int64]bool{}
	last := map[uuid.UUID]int64{}
	for _, e := range all {
		if seen[e.Position] {
			t.Errorf("position %d given twice", e.Position)
		}
		seen[e.Position] = true
		if e.Seq <= last[e.Resource.ID] {
			t.Errorf("product %s: seq %d after %d in the feed", e.Resource.ID, e.Seq, last[e.Resource.ID])
		}
		last[e.Resource.ID] = e.Seq
	}
}

// Purge deletes the events older than the cutoff and keeps the others.
func TestPurgeKeepsTheRetainedEvents(t *testing.T) {
	db, _ := openOrders(t)
	store := mysql.NewEventStore(db)
	products := catalog.NewService(mysql.NewProductStore(db))
	for i := range 3 {
		if _, err := products.Create(t.Context(), catalog.NewProduct{SKU: fmt.Sprintf("OLD-%d", i), Name: "old", Stock: 1}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond) // the next events' ids start a later millisecond
	cutoff := time.Now()
	time.Sleep(5 * time.Millisecond)
	kept, err := products.Create(t.Context(), catalog.NewProduct{SKU: "NEW", Name: "new", Stock: 1})
	if err != nil {
		t.Fatal(err)
	}
	n, err := store.Purge(t.Context(), cutoff)
	if err != nil || n != 3 {
		t.Fatalf("purged %d, %v; want the 3 older events", n, err)
	}
	if _, err := store.Publish(t.Context()); err != nil {
		t.Fatal(err)
	}
	p, err := store.Events(t.Context(), events.FeedQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 1 || p.Events[0].Resource.ID != kept.ID {
		t.Fatalf("after the purge the feed holds %+v, want the newer product's event only", p.Events)
	}
	if n, err := store.Purge(t.Context(), cutoff); err != nil || n != 0 {
		t.Fatalf("purging again deleted %d, %v", n, err)
	}
}
