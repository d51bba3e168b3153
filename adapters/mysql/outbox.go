package mysql

import (
	"context"
	"database/sql"
	"sync/atomic"

	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/events"
	"github.com/b2borders/platform/core/ordering"
)

// Renderers make the payload of an event: the resource as the API renders
// it. They belong to the HTTP adapter (httpapi.RenderOrder,
// httpapi.RenderProduct), which owns that shape and whose tests check it
// against the OpenAPI document; the application hands them to this adapter,
// which so needs no HTTP code, and calls them inside the transaction of the
// change, where the resource's state after the change is known. A nil
// renderer writes the payload null.
type Renderers struct {
	Order   func(ordering.Order) ([]byte, error)
	Product func(catalog.Product) ([]byte, error)
}

func (r Renderers) order(o ordering.Order) ([]byte, error) {
	if r.Order == nil {
		return []byte("null"), nil
	}
	return r.Order(o)
}

func (r Renderers) product(p catalog.Product) ([]byte, error) {
	if r.Product == nil {
		return []byte("null"), nil
	}
	return r.Product(p)
}

// orderEvent is the event announcing o, of type t.
func (db *DB) orderEvent(t events.Type, o ordering.Order) (events.Event, error) {
	payload, err := db.render.order(o)
	if err != nil {
		return events.Event{}, err
	}
	return ordering.Announcement(t, o, payload)
}

// stockEvent is the product.stock_changed event announcing p.
func (db *DB) stockEvent(p catalog.Product) (events.Event, error) {
	payload, err := db.render.product(p)
	if err != nil {
		return events.Event{}, err
	}
	return catalog.StockAnnouncement(p, payload)
}

// insertOutbox writes evs into the outbox, in one statement.
func insertOutbox(ctx context.Context, tx *sql.Tx, evs ...events.Event) error {
	return outboxInsert(evs...).exec(ctx, tx)
}

// outboxInsert is the statement that writes evs; none when evs is empty.
func outboxInsert(evs ...events.Event) statement {
	if len(evs) == 0 {
		return statement{}
	}
	args := make([]any, 0, 7*len(evs))
	for _, e := range evs {
		args = append(args, e.ID[:], string(e.Type), string(e.Resource.Type), e.Resource.ID[:], e.Seq, e.Payload, e.OccurredAt)
	}
	return statement{`INSERT INTO outbox (id, type, resource_type, resource_id, seq, payload, occurred_at) VALUES ` +
		rows(len(evs), 7), args}
}

// eventCounts counts the events committed, by type, in the order of
// events.Types.
type eventCounts [5]atomic.Uint64

// committed counts evs, which a transaction has just committed.
func (db *DB) committed(evs ...events.Event) {
	for _, e := range evs {
		for i, t := range events.Types {
			if t == e.Type {
				db.written[i].Add(1)
			}
		}
	}
}

// EventsWritten returns how many events of each type this pool's stores
// committed since it opened: for metrics.
func (db *DB) EventsWritten() map[events.Type]uint64 {
	out := make(map[events.Type]uint64, len(events.Types))
	for i, t := range events.Types {
		out[t] = db.written[i].Load()
	}
	return out
}

// lockedProducts reads, with a locking read, the products of items that
// meet cond, a condition on the products row. The write paths call it on
// rows they have locked already, so it waits for nothing.
func lockedProducts(ctx context.Context, tx *sql.Tx, items []ordering.Item, cond string) ([]catalog.Product, error) {
	args := make([]any, len(items))
	for i, it := range items {
		args[i] = it.ProductID[:]
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+productColumns+` FROM products WHERE id IN (`+placeholders(len(items))+`) AND `+cond+` ORDER BY id FOR UPDATE`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []catalog.Product
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// writeStockEvents writes a product.stock_changed event for each product,
// as it is after the change, and returns them.
func (db *DB) writeStockEvents(ctx context.Context, tx *sql.Tx, products []catalog.Product) ([]events.Event, error) {
	evs := make([]events.Event, len(products))
	for i, p := range products {
		var err error
		if evs[i], err = db.stockEvent(p); err != nil {
			return nil, err
		}
	}
	return evs, insertOutbox(ctx, tx, evs...)
}

// announceStock announces, after a change to items' products, those that
// now meet cond.
func (s *OrderStore) announceStock(ctx context.Context, tx *sql.Tx, items []ordering.Item, cond string) ([]events.Event, error) {
	products, err := lockedProducts(ctx, tx, items, cond)
	if err != nil || len(products) == 0 {
		return nil, err
	}
	return s.db.writeStockEvents(ctx, tx, products)
}
