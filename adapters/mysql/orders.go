package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/events"
	"github.com/b2borders/platform/core/idempotency"
	"github.com/b2borders/platform/core/ordering"
	"github.com/b2borders/platform/core/page"
)

// OrderStore keeps orders and their idempotency keys, and moves the stock
// the orders take, in orders_db.
type OrderStore struct {
	db *DB
	// prices spares placements a read of known products; see priceCache.
	prices priceCache
}

var _ ordering.Store = (*OrderStore)(nil)

// NewOrderStore returns a store over db.
func NewOrderStore(db *DB) *OrderStore {
	return &OrderStore{db: db}
}

// errKeyTaken ends a transaction whose key insert found the key recorded:
// it rolls back, and the record is read outside it.
var errKeyTaken = errors.New("idempotency key already recorded")

// Prices returns the cached price of every product in ids, or, if one is
// not cached, reads them all.
func (s *OrderStore) Prices(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int64, error) {
	if prices, ok := s.prices.lookup(ids); ok {
		return prices, nil
	}
	stock, err := s.Stock(ctx, ids)
	if err != nil {
		return nil, err
	}
	prices := make(map[uuid.UUID]int64, len(stock))
	for id, st := range stock {
		prices[id] = st.PriceCents
	}
	return prices, nil
}

// Stock reads the price and stock of the products, without locking, and
// caches their prices.
func (s *OrderStore) Stock(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]ordering.Stock, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id[:]
	}
	out := make(map[uuid.UUID]ordering.Stock, len(ids))
	err := s.db.run(ctx, "read products' stock", func(ctx context.Context) error {
		rows, err := s.db.QueryContext(ctx,
			`SELECT id, price_cents, stock FROM products WHERE id IN (`+placeholders(len(ids))+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id uuid.UUID
			var st ordering.Stock
			if err := rows.Scan(&id, &st.PriceCents, &st.Available); err != nil {
				return err
			}
			out[id] = st
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	s.prices.store(out)
	return out, nil
}

// Place writes the order and takes its stock in one transaction:
//
//	INSERT the idempotency key, when there is a claim (a concurrent twin
//	  blocks on the key until this one ends, then finds it recorded);
//	INSERT the order, and its items with one multi-row INSERT;
//	INSERT its order.placed event into the outbox;
//	UPDATE products SET stock = stock - qty WHERE id IN (…) AND
//	  stock > qty AND price_cents = the item's unit price, with qty and
//	  price picked per row by CASE;
//	COMMIT, if the UPDATE changed every item's product, else ROLLBACK.
//
// Orders on the same few products serialize on those product rows, so the
// time from the first product row lock to COMMIT is all that counts there:
// the UPDATE, which takes the locks, is last, and nothing but its reply and
// the COMMIT happens under them. InnoDB walks the IN list on the primary
// key in ascending order, and the items are sorted by product id, so every
// placement locks in the same global order. The rows inserted before it
// are new, visible to and locked by no one else; the outbox row among them
// costs a round trip, but not under the product locks.
//
// The UPDATE takes stock only where some is left after it (stock > qty):
// an order that empties a product is announced with a product.stock_changed
// event (catalog.AnnounceStock), whose payload is the product after the
// change, which this UPDATE does not return. So when the UPDATE misses a
// product, the whole transaction runs again with stock >= qty, which may
// empty products, and then reads the emptied ones and announces them,
// under the locks: two more round trips, for the order that takes a
// product's last units only (and for one that is short or priced anew,
// which then fails as before).
func (s *OrderStore) Place(ctx context.Context, o ordering.Order, claim *idempotency.Claim) error {
	placed, err := s.db.orderEvent(events.OrderPlaced, o)
	if err != nil {
		return err
	}
	err = s.db.tx(ctx, "place order "+o.ID.String(), func(ctx context.Context, tx *sql.Tx) error {
		n, err := s.placeTaking(ctx, tx, o, claim, placed, " > ")
		if err == nil && n != int64(len(o.Items)) {
			return errLastUnits
		}
		return err
	})
	var emptied []events.Event
	if errors.Is(err, errLastUnits) {
		err = s.db.tx(ctx, "place order "+o.ID.String(), func(ctx context.Context, tx *sql.Tx) error {
			emptied = nil
			n, err := s.placeTaking(ctx, tx, o, claim, placed, " >= ")
			if err != nil {
				return err
			}
			if n != int64(len(o.Items)) {
				return ordering.ErrStockMoved
			}
			emptied, err = s.announceStock(ctx, tx, o.Items, "stock = 0")
			return err
		})
	}
	if errors.Is(err, errKeyTaken) {
		return s.recorded(ctx, *claim)
	}
	if err == nil {
		s.db.committed(append(emptied, placed)...)
	}
	return err
}

// errLastUnits ends a placement whose stock UPDATE missed a product that
// may have had just the units ordered; see Place.
var errLastUnits = errors.New("a product may be emptied")

// placeTaking runs the statements of a placement, taking each item's stock
// from products whose stock compares to the item's quantity by cmp (" > "
// or " >= ") and still at the item's price, and returns how many products
// it changed.
func (s *OrderStore) placeTaking(ctx context.Context, tx *sql.Tx, o ordering.Order, claim *idempotency.Claim, placed events.Event, cmp string) (int64, error) {
	take := newCaseUpdate(o.Items)
	take.sql.WriteString(`UPDATE products SET stock = stock - `)
	take.caseBy(func(it ordering.Item) int64 { return it.Qty })
	take.sql.WriteString(`, version = version + 1, updated_at = ?`)
	take.args = append(take.args, o.CreatedAt)
	take.whereIDs()
	take.sql.WriteString(` AND stock` + cmp)
	take.caseBy(func(it ordering.Item) int64 { return it.Qty })
	take.sql.WriteString(` AND price_cents = `)
	take.caseBy(func(it ordering.Item) int64 { return it.UnitPriceCents })

	items := `INSERT INTO order_items (order_id, product_id, qty, unit_price_cents, subtotal_cents) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(o.Items)), ", ")
	itemArgs := make([]any, 0, 5*len(o.Items))
	for _, it := range o.Items {
		itemArgs = append(itemArgs, o.ID[:], it.ProductID[:], it.Qty, it.UnitPriceCents, it.SubtotalCents)
	}

	if claim != nil {
		if err := insertKey(ctx, tx, *claim, o.ID); err != nil {
			return 0, err
		}
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO orders (id, customer_id, status, total_cents, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		o.ID[:], o.CustomerID[:], string(o.Status), o.TotalCents, o.CreatedAt, o.UpdatedAt); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, items, itemArgs...); err != nil {
		return 0, err
	}
	if err := insertOutbox(ctx, tx, placed); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, take.sql.String(), take.args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// caseUpdate builds an UPDATE of several product rows whose values differ
// per row, picked with CASE id WHEN … THEN … END.
type caseUpdate struct {
	items []ordering.Item
	sql   strings.Builder
	args  []any
}

func newCaseUpdate(items []ordering.Item) *caseUpdate {
	return &caseUpdate{items: items, args: make([]any, 0, 7*len(items)+1)}
}

// caseBy writes CASE id WHEN ? THEN ? … END with value(item) per item. Ids
// are passed as their 16 bytes: uuid.UUID's driver value is its string.
func (u *caseUpdate) caseBy(value func(ordering.Item) int64) {
	u.sql.WriteString("CASE id")
	for _, it := range u.items {
		u.sql.WriteString(" WHEN ? THEN ?")
		u.args = append(u.args, it.ProductID[:], value(it))
	}
	u.sql.WriteString(" END")
}

// whereIDs writes WHERE id IN (…) over the items' products.
func (u *caseUpdate) whereIDs() {
	u.sql.WriteString(" WHERE id IN (" + placeholders(len(u.items)) + ")")
	for _, it := range u.items {
		u.args = append(u.args, it.ProductID[:])
	}
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

const orderColumns = "id, customer_id, status, total_cents, created_at, updated_at, confirmed_at, canceled_at"

func scanOrder(row interface{ Scan(...any) error }) (ordering.Order, error) {
	var o ordering.Order
	var status string
	var confirmed, canceled sql.NullTime
	err := row.Scan(&o.ID, &o.CustomerID, &status, &o.TotalCents, &o.CreatedAt, &o.UpdatedAt, &confirmed, &canceled)
	o.Status, o.ConfirmedAt, o.CanceledAt = ordering.Status(status), nullTime(confirmed), nullTime(canceled)
	return o, err
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}

func orderNotFound(id uuid.UUID) error {
	return errs.New(errs.NotFound, "order %s not found", id)
}

// loadItems returns the items of the given orders, by order id, each
// order's items in product id order.
func loadItems(ctx context.Context, db *sql.DB, ids ...uuid.UUID) (map[uuid.UUID][]ordering.Item, error) {
	keys := make([]any, len(ids))
	for i, id := range ids {
		keys[i] = id[:]
	}
	query, args, err := sq.Select("order_id, product_id, qty, unit_price_cents, subtotal_cents").
		From("order_items").Where(sq.Eq{"order_id": keys}).OrderBy("order_id", "product_id").ToSql()
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[uuid.UUID][]ordering.Item, len(ids))
	for rows.Next() {
		var order uuid.UUID
		var it ordering.Item
		if err := rows.Scan(&order, &it.ProductID, &it.Qty, &it.UnitPriceCents, &it.SubtotalCents); err != nil {
			return nil, err
		}
		out[order] = append(out[order], it)
	}
	return out, rows.Err()
}

// Get returns an order with its items.
func (s *OrderStore) Get(ctx context.Context, id uuid.UUID) (ordering.Order, error) {
	var o ordering.Order
	err := s.db.run(ctx, "get order", func(ctx context.Context) error {
		var err error
		o, err = scanOrder(s.db.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id[:]))
		if errors.Is(err, sql.ErrNoRows) {
			return orderNotFound(id)
		}
		if err != nil {
			return err
		}
		items, err := loadItems(ctx, s.db.DB, id)
		o.Items = items[id]
		return err
	})
	return o, err
}

// Search lists orders newest first, one page at a time, each with its
// items, read for the whole page with one more query.
func (s *OrderStore) Search(ctx context.Context, q ordering.Query) (page.Page[ordering.Order], error) {
	b := sq.Select(orderColumns).From("orders")
	if q.Status != "" {
		b = b.Where(sq.Eq{"status": string(q.Status)})
	}
	if q.CustomerID != uuid.Nil {
		b = b.Where(sq.Eq{"customer_id": q.CustomerID[:]})
	}
	if !q.From.IsZero() {
		b = b.Where(sq.GtOrEq{"created_at": q.From})
	}
	if !q.To.IsZero() {
		b = b.Where(sq.LtOrEq{"created_at": q.To})
	}
	b = afterCursor(b, q.Page.After)
	var p page.Page[ordering.Order]
	err := s.db.run(ctx, "search orders", func(ctx context.Context) error {
		rows, err := queryPage(ctx, s.db.DB, b, q.Page.Limit, scanOrder)
		if err != nil {
			return err
		}
		p = page.Build(rows, q.Page.Limit, func(o ordering.Order) page.Cursor {
			return page.Cursor{Created: o.CreatedAt, ID: o.ID}
		})
		if len(p.Items) == 0 {
			return nil
		}
		ids := make([]uuid.UUID, len(p.Items))
		for i, o := range p.Items {
			ids[i] = o.ID
		}
		items, err := loadItems(ctx, s.db.DB, ids...)
		for i := range p.Items {
			p.Items[i].Items = items[p.Items[i].ID]
		}
		return err
	})
	return p, err
}

// lockOrder reads an order with its items in one locking read, which holds
// the order row until the transaction ends. The items never change once
// written; they are read with the lock too, so that the transaction opens
// no read view (see the package comment).
func lockOrder(ctx context.Context, tx *sql.Tx, id uuid.UUID) (ordering.Order, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+orderColumns+`, product_id, qty, unit_price_cents, subtotal_cents
		FROM orders JOIN order_items ON order_items.order_id = orders.id
		WHERE orders.id = ? ORDER BY product_id FOR UPDATE`, id[:])
	if err != nil {
		return ordering.Order{}, err
	}
	defer rows.Close()
	var o ordering.Order
	for rows.Next() {
		var status string
		var confirmed, canceled sql.NullTime
		var it ordering.Item
		if err := rows.Scan(&o.ID, &o.CustomerID, &status, &o.TotalCents, &o.CreatedAt, &o.UpdatedAt, &confirmed, &canceled,
			&it.ProductID, &it.Qty, &it.UnitPriceCents, &it.SubtotalCents); err != nil {
			return ordering.Order{}, err
		}
		o.Status, o.ConfirmedAt, o.CanceledAt = ordering.Status(status), nullTime(confirmed), nullTime(canceled)
		o.Items = append(o.Items, it)
	}
	if err := rows.Err(); err != nil {
		return ordering.Order{}, err
	}
	if o.Items == nil {
		return ordering.Order{}, orderNotFound(id)
	}
	return o, nil
}

// saveOrder writes the mutable part of an order, if fn changed it. The
// domain moves UpdatedAt with every change.
func saveOrder(ctx context.Context, tx *sql.Tx, before, o ordering.Order) error {
	if o.Status == before.Status && o.UpdatedAt.Equal(before.UpdatedAt) {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE orders SET status = ?, updated_at = ?, confirmed_at = ?, canceled_at = ? WHERE id = ?`,
		string(o.Status), o.UpdatedAt, o.ConfirmedAt, o.CanceledAt, o.ID[:])
	return err
}

// Confirm records claim's key, then applies fn to the locked order, stores
// it, writes its order.confirmed event (when fn changed it) and stores
// render's bytes with the key, in one transaction. The key is
// inserted first, so a concurrent confirm with the same key waits on it
// before it reads or renders anything, then finds it recorded, rolls back,
// and replays or refuses what the first stored. When fn or render fails,
// nothing is written and the key stays free.
func (s *OrderStore) Confirm(ctx context.Context, id uuid.UUID, claim idempotency.Claim,
	fn func(*ordering.Order) error, render func(ordering.Order) ([]byte, error)) ([]byte, error) {
	var body []byte
	var evs []events.Event
	err := s.db.tx(ctx, "confirm order "+id.String(), func(ctx context.Context, tx *sql.Tx) error {
		evs = nil
		if err := insertKey(ctx, tx, claim, id); err != nil {
			return err
		}
		before, err := lockOrder(ctx, tx, id)
		if err != nil {
			return err
		}
		o := before
		if err := fn(&o); err != nil {
			return err
		}
		if body, err = render(o); err != nil {
			return err
		}
		if err := saveOrder(ctx, tx, before, o); err != nil {
			return err
		}
		if evs, err = s.announceOrder(ctx, tx, before, o); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE idempotency_keys SET response_status = 200, response_body = ? WHERE target_type = ? AND `key` = ?",
			body, string(claim.Scope), []byte(claim.Key))
		return err
	})
	if errors.Is(err, errKeyTaken) {
		return nil, s.recorded(ctx, claim)
	}
	if err == nil {
		s.db.committed(evs...)
	}
	return body, err
}

// announceOrder writes the event of an order's change from before to o, if
// it is announced (ordering.Announce), and returns it.
func (s *OrderStore) announceOrder(ctx context.Context, tx *sql.Tx, before, o ordering.Order) ([]events.Event, error) {
	t, ok := ordering.Announce(before, o)
	if !ok {
		return nil, nil
	}
	e, err := s.db.orderEvent(t, o)
	if err != nil {
		return nil, err
	}
	return []events.Event{e}, insertOutbox(ctx, tx, e)
}

// Cancel applies fn to the locked order, stores it and writes its
// order.canceled event and, when fn says so, gives its items' stock back in
// the same transaction. The product rows are locked last, by one UPDATE in
// ascending id order, as a placement locks them; it gives back only to
// products that have stock (stock > 0). The products it misses had none,
// and their stock coming back is announced (catalog.AnnounceStock): they
// are read, given their units and announced, three more round trips for
// that case only.
func (s *OrderStore) Cancel(ctx context.Context, id uuid.UUID, fn func(*ordering.Order) (bool, error)) (ordering.Order, error) {
	var o ordering.Order
	var evs []events.Event
	err := s.db.tx(ctx, "cancel order "+id.String(), func(ctx context.Context, tx *sql.Tx) error {
		before, err := lockOrder(ctx, tx, id)
		if err != nil {
			return err
		}
		o = before
		o.Items = slices.Clone(before.Items)
		restock, err := fn(&o)
		if err != nil {
			return err
		}
		if err := saveOrder(ctx, tx, before, o); err != nil {
			return err
		}
		if evs, err = s.announceOrder(ctx, tx, before, o); err != nil || !restock {
			return err
		}
		n, err := addStock(ctx, tx, o.Items, o.UpdatedAt, " AND stock > 0")
		if err != nil || n == int64(len(o.Items)) {
			return err
		}
		refilled, err := s.refill(ctx, tx, o)
		evs = append(evs, refilled...)
		if err == nil && n+int64(len(refilled)) != int64(len(o.Items)) {
			err = fmt.Errorf("gave stock back to %d of %d products", n+int64(len(refilled)), len(o.Items))
		}
		return err
	})
	if err == nil {
		s.db.committed(evs...)
	}
	return o, err
}

// addStock adds each item's quantity to its product's stock, where the
// product row meets cond, and returns how many products it changed.
func addStock(ctx context.Context, tx *sql.Tx, items []ordering.Item, at time.Time, cond string) (int64, error) {
	give := newCaseUpdate(items)
	give.sql.WriteString(`UPDATE products SET stock = stock + `)
	give.caseBy(func(it ordering.Item) int64 { return it.Qty })
	give.sql.WriteString(`, version = version + 1, updated_at = ?`)
	give.args = append(give.args, at)
	give.whereIDs()
	give.sql.WriteString(cond)
	res, err := tx.ExecContext(ctx, give.sql.String(), give.args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// refill gives o's units back to those of its products that have no stock,
// and announces each: the products a cancel makes available again.
func (s *OrderStore) refill(ctx context.Context, tx *sql.Tx, o ordering.Order) ([]events.Event, error) {
	empty, err := lockedProducts(ctx, tx, o.Items, "stock = 0")
	if err != nil || len(empty) == 0 {
		return nil, err
	}
	qty := make(map[uuid.UUID]int64, len(o.Items))
	for _, it := range o.Items {
		qty[it.ProductID] = it.Qty
	}
	items := make([]ordering.Item, len(empty))
	for i, p := range empty {
		items[i] = ordering.Item{ProductID: p.ID, Qty: qty[p.ID]}
		empty[i].Stock += qty[p.ID]
		empty[i].Version++
		empty[i].UpdatedAt = o.UpdatedAt
	}
	if _, err := addStock(ctx, tx, items, o.UpdatedAt, ""); err != nil {
		return nil, err
	}
	return s.db.writeStockEvents(ctx, tx, empty)
}
