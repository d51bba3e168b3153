package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"

	"github.com/b2borders/platform/core/catalog"
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

// Place writes the order and takes its stock in one transaction, in four
// round trips (five with an idempotency key):
//
//	BEGIN;
//	INSERT the order, its items, its stock movements, its history row and
//	  its order.placed event into the outbox: new rows only, one
//	  multi-row INSERT per table, the five sent as one batch (see DB.tx);
//	INSERT the idempotency key, when there is a claim (a concurrent twin
//	  blocks on the key until this one ends, then finds it recorded);
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
// are new, visible to and locked by no one else: the ledger's and the
// outbox's rows add work before the first lock, not time under it. The key
// comes after the batch: it is the one row inserted before the UPDATE that
// a twin, on this node or another, may want, so the transaction holds it
// only once the batch has run.
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
	moves, err := orderMovements(ctx, o, -1, catalog.Placed, catalog.ReasonPlaced)
	if err != nil {
		return err
	}
	history, err := event(ctx, o.ID, ordering.EventPlaced, o.CreatedAt)
	if err != nil {
		return err
	}
	placed, err := s.db.orderEvent(events.OrderPlaced, o)
	if err != nil {
		return err
	}
	w := placement{o: o, claim: claim, moves: moves, history: history, placed: placed}
	err = s.db.tx(ctx, "place order "+o.ID.String(), func(ctx context.Context, tx *sql.Tx) error {
		n, err := w.write(ctx, tx, " > ")
		if err == nil && n != int64(len(o.Items)) {
			return errLastUnits
		}
		return err
	})
	var emptied []events.Event
	if errors.Is(err, errLastUnits) {
		err = s.db.tx(ctx, "place order "+o.ID.String(), func(ctx context.Context, tx *sql.Tx) error {
			emptied = nil
			n, err := w.write(ctx, tx, " >= ")
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

// placement is what a placement writes.
type placement struct {
	o       ordering.Order
	claim   *idempotency.Claim
	moves   []catalog.Movement
	history ordering.Event
	placed  events.Event
}

// write runs the statements of a placement, taking each item's stock from
// products whose stock compares to the item's quantity by cmp (" > " or
// " >= ") and that still have the item's price, and returns how many
// products it changed.
func (w placement) write(ctx context.Context, tx *sql.Tx, cmp string) (int64, error) {
	o := w.o
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

	itemArgs := make([]any, 0, 5*len(o.Items))
	for _, it := range o.Items {
		itemArgs = append(itemArgs, o.ID[:], it.ProductID[:], it.Qty, it.UnitPriceCents, it.SubtotalCents)
	}
	inserts := batch(
		statement{`INSERT INTO orders (id, customer_id, status, total_cents, created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			[]any{o.ID[:], o.CustomerID[:], string(o.Status), o.TotalCents, o.CreatedAt, o.UpdatedAt, o.ExpiresAt}},
		statement{`INSERT INTO order_items (order_id, product_id, qty, unit_price_cents, subtotal_cents) VALUES ` + rows(len(o.Items), 5), itemArgs},
		movementsInsert(w.moves),
		eventsInsert(w.history),
		outboxInsert(w.placed),
	)
	if err := inserts.exec(ctx, tx); err != nil {
		return 0, err
	}
	if w.claim != nil {
		if err := insertKey(ctx, tx, *w.claim, o.ID); err != nil {
			return 0, err
		}
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

const orderColumns = "id, customer_id, status, total_cents, created_at, updated_at, confirmed_at, canceled_at, expires_at"

func scanOrder(row interface{ Scan(...any) error }) (ordering.Order, error) {
	var o ordering.Order
	err := row.Scan(orderFields(&o)...)
	return o, err
}

// orderFields are the scan destinations of orderColumns in o; the nullable
// times are set through nullTimeOf.
func orderFields(o *ordering.Order) []any {
	return []any{&o.ID, &o.CustomerID, statusInto{&o.Status}, &o.TotalCents, &o.CreatedAt, &o.UpdatedAt,
		nullTimeInto{&o.ConfirmedAt}, nullTimeInto{&o.CanceledAt}, nullTimeInto{&o.ExpiresAt}}
}

// statusInto scans a status column into an ordering.Status.
type statusInto struct{ dst *ordering.Status }

func (s statusInto) Scan(v any) error {
	var ns sql.NullString
	err := ns.Scan(v)
	*s.dst = ordering.Status(ns.String)
	return err
}

// nullTimeInto scans a nullable time column into a *time.Time.
type nullTimeInto struct{ dst **time.Time }

func (n nullTimeInto) Scan(v any) error {
	var nt sql.NullTime
	if err := nt.Scan(v); err != nil {
		return err
	}
	*n.dst = nullTime(nt)
	return nil
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
		var it ordering.Item
		if err := rows.Scan(append(orderFields(&o), &it.ProductID, &it.Qty, &it.UnitPriceCents, &it.SubtotalCents)...); err != nil {
			return ordering.Order{}, err
		}
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

// saveOrder writes the mutable part of an order, if fn changed it, and the
// event of its new status, if that changed. The domain moves UpdatedAt with
// every change.
func saveOrder(ctx context.Context, tx *sql.Tx, before, o ordering.Order) error {
	if o.Status == before.Status && o.UpdatedAt.Equal(before.UpdatedAt) {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE orders SET status = ?, updated_at = ?, confirmed_at = ?, canceled_at = ? WHERE id = ?`,
		string(o.Status), o.UpdatedAt, o.ConfirmedAt, o.CanceledAt, o.ID[:]); err != nil || o.Status == before.Status {
		return err
	}
	typ, ok := statusEvents[o.Status]
	if !ok {
		return fmt.Errorf("order %s: no event for the change from %s to %s", o.ID, before.Status, o.Status)
	}
	e, err := event(ctx, o.ID, typ, o.UpdatedAt)
	if err != nil {
		return err
	}
	return insertEvents(ctx, tx, e)
}

// statusEvents names the event of a change to each status.
var statusEvents = map[ordering.Status]ordering.EventType{
	ordering.Created:   ordering.EventPlaced,
	ordering.Confirmed: ordering.EventConfirmed,
	ordering.Canceled:  ordering.EventCanceled,
	ordering.Expired:   ordering.EventExpired,
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
// it is announced (ordering.Announce), into the outbox, and returns it.
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

// Cancel applies fn to the locked order, stores it with its canceled
// event and its order.canceled event and, when fn says so, gives its
// items' stock back in the same transaction, with a movement per item. The
// product rows are locked last, as a placement locks them (see giveBack).
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
		moves, err := orderMovements(ctx, o, 1, catalog.Canceled, catalog.ReasonCanceled)
		if err != nil {
			return err
		}
		if err := insertMovements(ctx, tx, moves); err != nil {
			return err
		}
		refilled, err := s.giveBack(ctx, tx, o.Items, o.UpdatedAt)
		evs = append(evs, refilled...)
		return err
	})
	if err == nil {
		s.db.committed(evs...)
	}
	return o, err
}

// giveBack returns items' stock to their products; items may hold a
// product more than once (the orders of one sweep batch), and are summed
// per product. One UPDATE, which locks the product rows in ascending id
// order, gives back to the products that have stock (stock > 0). The
// products it misses had none, and their stock coming back is announced
// (catalog.AnnounceStock): they are read, given their units and announced,
// three more round trips for that case only. It returns their
// product.stock_changed events.
func (s *OrderStore) giveBack(ctx context.Context, tx *sql.Tx, items []ordering.Item, at time.Time) ([]events.Event, error) {
	sum := map[uuid.UUID]int64{}
	var merged []ordering.Item
	for _, it := range items {
		if _, seen := sum[it.ProductID]; !seen {
			merged = append(merged, ordering.Item{ProductID: it.ProductID})
		}
		sum[it.ProductID] += it.Qty
	}
	slices.SortFunc(merged, func(a, b ordering.Item) int { return bytes.Compare(a.ProductID[:], b.ProductID[:]) })
	for i := range merged {
		merged[i].Qty = sum[merged[i].ProductID]
	}
	n, err := addStock(ctx, tx, merged, at, " AND stock > 0")
	if err != nil || n == int64(len(merged)) {
		return nil, err
	}
	empty, err := lockedProducts(ctx, tx, merged, "stock = 0")
	if err != nil {
		return nil, err
	}
	if n+int64(len(empty)) != int64(len(merged)) {
		return nil, fmt.Errorf("gave stock back to %d of %d products", n+int64(len(empty)), len(merged))
	}
	refill := make([]ordering.Item, len(empty))
	for i, p := range empty {
		refill[i] = ordering.Item{ProductID: p.ID, Qty: sum[p.ID]}
		empty[i].Stock += sum[p.ID]
		empty[i].Version++
		empty[i].UpdatedAt = at
	}
	if _, err := addStock(ctx, tx, refill, at, ""); err != nil {
		return nil, err
	}
	return s.db.writeStockEvents(ctx, tx, empty)
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

// Expire expires a batch of due orders in one transaction (at READ
// COMMITTED, see below):
//
//	SELECT the ids of at most limit CREATED orders due by now, oldest
//	  deadline first, FOR UPDATE SKIP LOCKED: orders another transaction
//	  holds (a confirm, a cancel, another replica's sweep) are left to it;
//	SELECT their items FOR UPDATE;
//	UPDATE the orders to EXPIRED, one statement;
//	INSERT an expired event per order and a movement per item, one
//	  multi-row INSERT each, and an order.expired event per order into
//	  the outbox;
//	UPDATE products to give the stock back, one statement, last (see
//	  giveBack for the products that had none);
//	COMMIT.
//
// One transaction per batch rather than per order: a backlog of thousands
// of orders (a replica down for a while) clears in a few dozen commits,
// and the product rows are still locked by one statement right before
// COMMIT, as in a placement, for no longer than one placement holds them.
// The batch's order rows stay locked for the whole transaction, but a
// confirm of a due order fails anyway and a cancel of one would find it
// EXPIRED.
//
// READ COMMITTED, because at REPEATABLE READ the locking range read on
// (status, expires_at) would also lock the gap after the last due order,
// where every new order's index entry goes: placements would wait for the
// sweep. At READ COMMITTED InnoDB locks only the rows it returns. A
// confirm that holds an order keeps it out of the batch; a confirm that
// comes while the batch holds it waits, then finds it EXPIRED. On a Galera
// cluster SKIP LOCKED sees only its node's locks: two replicas on
// different nodes may pick the same order, and certification aborts one of
// them as a deadlock, which the runner retries, then finding it EXPIRED.
func (s *OrderStore) Expire(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int
	var evs []events.Event
	err := s.db.txWith(ctx, "expire orders", &sql.TxOptions{Isolation: sql.LevelReadCommitted}, func(ctx context.Context, tx *sql.Tx) error {
		n, evs = 0, nil
		orders, err := lockDue(ctx, tx, now, limit)
		if err != nil || len(orders) == 0 {
			return err
		}
		ids := make([]any, len(orders))
		var items []ordering.Item
		var moves []catalog.Movement
		history := make([]ordering.Event, len(orders))
		for i := range orders {
			o := &orders[i]
			o.Expire(now)
			ids[i] = o.ID[:]
			items = append(items, o.Items...)
			ms, err := orderMovements(ctx, *o, 1, catalog.Expired, catalog.ReasonExpired)
			if err != nil {
				return err
			}
			moves = append(moves, ms...)
			if history[i], err = event(ctx, o.ID, ordering.EventExpired, now); err != nil {
				return err
			}
			e, err := s.db.orderEvent(events.OrderExpired, *o)
			if err != nil {
				return err
			}
			evs = append(evs, e)
		}
		res, err := tx.ExecContext(ctx, `UPDATE orders SET status = ?, updated_at = ? WHERE status = ? AND id IN (`+placeholders(len(ids))+`)`,
			append([]any{string(ordering.Expired), now, string(ordering.Created)}, ids...)...)
		if err != nil {
			return err
		}
		if changed, err := res.RowsAffected(); err != nil || changed != int64(len(ids)) {
			if err == nil {
				err = fmt.Errorf("expired %d of the %d orders locked", changed, len(ids))
			}
			return err
		}
		if err := insertEvents(ctx, tx, history...); err != nil {
			return err
		}
		if err := insertMovements(ctx, tx, moves); err != nil {
			return err
		}
		if err := insertOutbox(ctx, tx, evs...); err != nil {
			return err
		}
		refilled, err := s.giveBack(ctx, tx, items, now)
		if err != nil {
			return err
		}
		evs = append(evs, refilled...)
		n = len(orders)
		return nil
	})
	if err == nil {
		s.db.committed(evs...)
	}
	return n, err
}

// lockDue locks at most limit CREATED orders due by now that no other
// transaction holds, and returns them with their items.
func lockDue(ctx context.Context, tx *sql.Tx, now time.Time, limit int) ([]ordering.Order, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+orderColumns+` FROM orders
		WHERE status = ? AND expires_at <= ? ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED`,
		string(ordering.Created), now, limit)
	if err != nil {
		return nil, err
	}
	var orders []ordering.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		orders = append(orders, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(orders) == 0 {
		return nil, err
	}
	byID := make(map[uuid.UUID]int, len(orders))
	ids := make([]any, len(orders))
	for i, o := range orders {
		byID[o.ID] = i
		ids[i] = o.ID[:]
	}
	items, err := tx.QueryContext(ctx, `SELECT order_id, product_id, qty, unit_price_cents, subtotal_cents FROM order_items
		WHERE order_id IN (`+placeholders(len(ids))+`) ORDER BY order_id, product_id FOR UPDATE`, ids...)
	if err != nil {
		return nil, err
	}
	defer items.Close()
	for items.Next() {
		var order uuid.UUID
		var it ordering.Item
		if err := items.Scan(&order, &it.ProductID, &it.Qty, &it.UnitPriceCents, &it.SubtotalCents); err != nil {
			return nil, err
		}
		o := &orders[byID[order]]
		o.Items = append(o.Items, it)
	}
	return orders, items.Err()
}

// Events lists an order's history newest first.
func (s *OrderStore) Events(ctx context.Context, q ordering.EventQuery) (page.Page[ordering.Event], error) {
	return history(ctx, s.db, "list order events", "order_events", eventColumns, "order_id", q.OrderID, "orders",
		q.Page, scanEvent, func(e ordering.Event) page.Cursor { return page.Cursor{Created: e.CreatedAt, ID: e.ID} },
		orderNotFound(q.OrderID))
}
