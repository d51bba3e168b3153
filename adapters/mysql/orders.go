package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/idempotency"
	"github.com/b2borders/platform/core/ordering"
	"github.com/b2borders/platform/core/page"
)

// OrderStore keeps orders and their idempotency keys, and moves the stock
// the orders take, in orders_db.
type OrderStore struct {
	db *sql.DB
	// batches runs the placement transaction; see Place.
	batches *BatchDB
	// prices spares placements a read of known products; see priceCache.
	prices priceCache
	// now tells whether a stored key has expired.
	now func() time.Time
}

var _ ordering.Store = (*OrderStore)(nil)

// NewOrderStore returns a store over db that places orders through
// batches, a BatchDB on the same database.
func NewOrderStore(db *sql.DB, batches *BatchDB) *OrderStore {
	return &OrderStore{db: db, batches: batches, now: time.Now}
}

// maxReruns bounds how often a placement or a confirmation runs again
// because a price changed under it or its expired key had to be cleared
// first. Deadlocks and lock wait timeouts are retried separately, by
// withRetries.
const maxReruns = 5

// errStockMoved is returned from inside a placement transaction whose stock
// update did not match every line: a line is short, or a price changed since
// the prices were read.
var errStockMoved = errors.New("stock or price changed")

// priced is what a placement reads of a product.
type priced struct {
	price int64
	stock int64
}

// Place writes the order d describes and takes its stock.
//
// The design serves the hot-row case: orders on the same few products
// serialize on those product rows, so the time from the first product row
// lock to COMMIT is all that counts, and nothing but one statement and the
// commit happens inside it. Outside the hot rows, the cost of a placement
// is its round trips to the database, so a placement of products it has
// placed before makes two.
//
//  1. Take the lines' prices from the price cache. If a product is not
//     there, read every line's price and stock outside any transaction
//     instead: a product missing here is errs.ProductNotFound, and nothing
//     is written; stock already short is insufficient stock at once,
//     without a transaction, unless d has a claim: its key may hold an
//     earlier answer to replay.
//  2. In one round trip, one query of several statements on the BatchDB:
//     START TRANSACTION; insert the idempotency key, when d has a claim (a
//     concurrent twin blocks on the key until this one ends); insert the
//     order and, with one multi-row INSERT, its items (none of these rows
//     is visible to, or locked by, anyone else); and last, take the locks
//     with one statement: UPDATE products SET stock = stock - qty WHERE id
//     IN (…) AND stock >= qty AND price_cents = the price from step 1, qty
//     and price picked per row by CASE. InnoDB walks the IN list on the
//     primary key in ascending order, and d.Lines is sorted by id, so
//     every placement locks in the same global order.
//  3. If the UPDATE changed every line's row, COMMIT, the second round
//     trip. Otherwise ROLLBACK and re-read the products outside a
//     transaction: lines short of stock are reported all at once as
//     insufficient stock; if none is short, a price moved since step 1 (or
//     the cache was stale), and the placement runs again at the prices
//     just read. A duplicate key in step 2 is the claim's key (the order's
//     and items' keys are this draft's new id): the key is settled and its
//     order replayed, or the placement runs again once it is free.
//
// The row locks are held for the UPDATE, the reply to the batch and the
// COMMIT only, as they were when each statement was its own round trip. A
// replayed key returns the order it placed, as it is now.
func (s *OrderStore) Place(ctx context.Context, d ordering.Draft) (ordering.Order, bool, error) {
	if err := checkLines(d.Lines); err != nil {
		return ordering.Order{}, false, err
	}
	prices, known := s.prices.lookup(d.Lines)
	if !known {
		read, err := s.readProducts(ctx, d.Lines)
		if err != nil {
			return ordering.Order{}, false, err
		}
		if short := shortages(d.Lines, read); len(short) > 0 && d.Claim == nil {
			return ordering.Order{}, false, ordering.InsufficientStock(short)
		}
		prices = priceOf(read)
	}
	for attempt := 1; ; attempt++ {
		o, err := s.placeOnce(ctx, d, prices)
		switch {
		case err == nil:
			return o, false, nil
		case errors.Is(err, errKeyTaken):
			k, retry, err := settleKey(ctx, s.db, *d.Claim, s.now())
			if err != nil {
				return ordering.Order{}, false, err
			}
			if !retry {
				o, err := s.Get(ctx, k.TargetID)
				return o, err == nil, err
			}
		case errors.Is(err, errStockMoved):
			read, err := s.readProducts(ctx, d.Lines)
			if err != nil {
				return ordering.Order{}, false, err
			}
			if short := shortages(d.Lines, read); len(short) > 0 {
				return ordering.Order{}, false, ordering.InsufficientStock(short)
			}
			prices = priceOf(read)
		default:
			return ordering.Order{}, false, err
		}
		if attempt == maxReruns {
			return ordering.Order{}, false, fmt.Errorf("place order %s: products kept changing for %d attempts", d.ID, attempt)
		}
	}
}

// checkLines refuses what a Draft never holds but the statements rely on:
// no lines, a repeated product, a line without units.
func checkLines(lines []ordering.Line) error {
	if len(lines) == 0 {
		return errs.New(errs.Invalid, "an order needs at least one line")
	}
	seen := make(map[uuid.UUID]bool, len(lines))
	for _, l := range lines {
		if seen[l.ProductID] || l.Qty < 1 {
			return fmt.Errorf("draft lines must name distinct products with positive quantities")
		}
		seen[l.ProductID] = true
	}
	return nil
}

// readProducts reads the price and stock of every line's product, without
// locking, and caches the prices; errs.ProductNotFound names the products
// that do not exist.
func (s *OrderStore) readProducts(ctx context.Context, lines []ordering.Line) (map[uuid.UUID]priced, error) {
	args := make([]any, len(lines))
	for i, l := range lines {
		args[i] = l.ProductID[:]
	}
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, price_cents, stock FROM products WHERE id IN (`+placeholders(len(lines))+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[uuid.UUID]priced, len(lines))
	for rows.Next() {
		var id uuid.UUID
		var p priced
		if err := rows.Scan(&id, &p.price, &p.stock); err != nil {
			return nil, err
		}
		out[id] = p
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.prices.store(out)
	var missing []string
	for _, l := range lines {
		if _, ok := out[l.ProductID]; !ok {
			missing = append(missing, l.ProductID.String())
		}
	}
	if len(missing) > 0 {
		return nil, errs.New(errs.ProductNotFound, "unknown products: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func priceOf(products map[uuid.UUID]priced) map[uuid.UUID]int64 {
	out := make(map[uuid.UUID]int64, len(products))
	for id, p := range products {
		out[id] = p.price
	}
	return out
}

// shortages lists every line its product's stock cannot cover.
func shortages(lines []ordering.Line, stock map[uuid.UUID]priced) []ordering.Shortage {
	var short []ordering.Shortage
	for _, l := range lines {
		if have := stock[l.ProductID].stock; have < l.Qty {
			short = append(short, ordering.Shortage{ProductID: l.ProductID, Available: have, Requested: l.Qty})
		}
	}
	return short
}

// placeOnce runs one placement transaction at the given prices; see Place.
func (s *OrderStore) placeOnce(ctx context.Context, d ordering.Draft, prices map[uuid.UUID]int64) (ordering.Order, error) {
	o := ordering.Order{
		ID: d.ID, CustomerID: d.CustomerID, Status: ordering.Created,
		Items:     make([]ordering.Item, len(d.Lines)),
		CreatedAt: d.CreatedAt, UpdatedAt: d.CreatedAt,
	}
	for i, l := range d.Lines {
		price := prices[l.ProductID]
		if price > 0 && l.Qty > (math.MaxInt64-o.TotalCents)/price {
			return ordering.Order{}, errs.New(errs.Invalid, "the order's total is too large")
		}
		o.Items[i] = ordering.Item{ProductID: l.ProductID, Qty: l.Qty, UnitPriceCents: price, SubtotalCents: price * l.Qty}
		o.TotalCents += price * l.Qty
	}

	b := newTxBatch()
	if c := d.Claim; c != nil {
		b.add(insertKeySQL, keyArgs(*c, o.ID, keyCompleted, d.CreatedAt)...)
	}
	b.add(`INSERT INTO orders (id, customer_id, status, total_cents, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		o.ID[:], o.CustomerID[:], string(o.Status), o.TotalCents, o.CreatedAt, o.UpdatedAt)
	var items strings.Builder
	items.WriteString(`INSERT INTO order_items (order_id, product_id, qty, unit_price_cents, subtotal_cents) VALUES `)
	itemArgs := make([]any, 0, 5*len(o.Items))
	for i, it := range o.Items {
		if i > 0 {
			items.WriteString(", ")
		}
		items.WriteString("(?, ?, ?, ?, ?)")
		itemArgs = append(itemArgs, o.ID[:], it.ProductID[:], it.Qty, it.UnitPriceCents, it.SubtotalCents)
	}
	b.add(items.String(), itemArgs...)
	// The first product row lock is taken by this last statement; COMMIT
	// follows as soon as its count is read.
	take := newCaseUpdate(d.Lines)
	take.sql.WriteString(`UPDATE products SET stock = stock - `)
	take.caseBy(func(l ordering.Line) int64 { return l.Qty })
	take.sql.WriteString(`, version = version + 1, updated_at = ?`)
	take.args = append(take.args, d.CreatedAt)
	take.whereIDs()
	take.sql.WriteString(` AND stock >= `)
	take.caseBy(func(l ordering.Line) int64 { return l.Qty })
	take.sql.WriteString(` AND price_cents = `)
	take.caseBy(func(l ordering.Line) int64 { return prices[l.ProductID] })
	b.add(take.sql.String(), take.args...)

	err := withRetries(ctx, func() error {
		return s.batches.runTx(ctx, b, func(rows []int64) error {
			if rows[len(rows)-1] != int64(len(d.Lines)) {
				return errStockMoved
			}
			return nil
		})
	})
	if d.Claim != nil && isDuplicate(err) {
		return ordering.Order{}, errKeyTaken
	}
	return o, err
}

// caseUpdate builds an UPDATE of several product rows whose values differ
// per row, picked with CASE id WHEN … THEN … END.
type caseUpdate struct {
	lines []ordering.Line
	sql   strings.Builder
	args  []any
}

func newCaseUpdate(lines []ordering.Line) *caseUpdate {
	return &caseUpdate{lines: lines, args: make([]any, 0, 7*len(lines)+1)}
}

// caseBy writes CASE id WHEN ? THEN ? … END with value(line) per line. Ids
// are passed as their 16 bytes: uuid.UUID's driver value is its string.
func (u *caseUpdate) caseBy(value func(ordering.Line) int64) {
	u.sql.WriteString("CASE id")
	for _, l := range u.lines {
		u.sql.WriteString(" WHEN ? THEN ?")
		u.args = append(u.args, l.ProductID[:], value(l))
	}
	u.sql.WriteString(" END")
}

// whereIDs writes WHERE id IN (…) over the lines' products.
func (u *caseUpdate) whereIDs() {
	u.sql.WriteString(" WHERE id IN (" + placeholders(len(u.lines)) + ")")
	for _, l := range u.lines {
		u.args = append(u.args, l.ProductID[:])
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
	o.Status = ordering.Status(status)
	if confirmed.Valid {
		o.ConfirmedAt = &confirmed.Time
	}
	if canceled.Valid {
		o.CanceledAt = &canceled.Time
	}
	return o, err
}

func orderNotFound(id uuid.UUID) error {
	return errs.New(errs.NotFound, "order %s not found", id)
}

// querier is what reading items needs, from the pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// loadItems returns the items of the given orders, by order id, each
// order's items in product id order.
func loadItems(ctx context.Context, q querier, ids ...uuid.UUID) (map[uuid.UUID][]ordering.Item, error) {
	keys := make([]any, len(ids))
	for i, id := range ids {
		keys[i] = id[:]
	}
	query, args, err := sq.Select("order_id, product_id, qty, unit_price_cents, subtotal_cents").
		From("order_items").Where(sq.Eq{"order_id": keys}).OrderBy("order_id", "product_id").ToSql()
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, query, args...)
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
	o, err := scanOrder(s.db.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return ordering.Order{}, orderNotFound(id)
	}
	if err != nil {
		return ordering.Order{}, err
	}
	items, err := loadItems(ctx, s.db, id)
	if err != nil {
		return ordering.Order{}, err
	}
	o.Items = items[id]
	return o, nil
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
	rows, err := queryPage(ctx, s.db, b, q.Page.Limit, scanOrder)
	if err != nil {
		return page.Page[ordering.Order]{}, err
	}
	p := page.Build(rows, q.Page.Limit, func(o ordering.Order) page.Cursor {
		return page.Cursor{Created: o.CreatedAt, ID: o.ID}
	})
	if len(p.Items) == 0 {
		return p, nil
	}
	ids := make([]uuid.UUID, len(p.Items))
	for i, o := range p.Items {
		ids[i] = o.ID
	}
	items, err := loadItems(ctx, s.db, ids...)
	if err != nil {
		return page.Page[ordering.Order]{}, err
	}
	for i := range p.Items {
		p.Items[i].Items = items[p.Items[i].ID]
	}
	return p, nil
}

// lockOrder adds to b, a batch that begins a transaction, the read of an
// order that holds its row lock until the transaction ends, and the read of
// its items, which never change once written and need no lock; see
// scanLockedOrder.
func lockOrder(b *batch, id uuid.UUID) {
	b.add(`SELECT `+orderColumns+` FROM orders WHERE id = ? FOR UPDATE`, id[:])
	b.add(`SELECT product_id, qty, unit_price_cents, subtotal_cents FROM order_items WHERE order_id = ? ORDER BY product_id`, id[:])
}

// scanLockedOrder reads the two result sets of lockOrder.
func scanLockedOrder(rows *sql.Rows, id uuid.UUID) (ordering.Order, error) {
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return ordering.Order{}, err
		}
		return ordering.Order{}, orderNotFound(id)
	}
	o, err := scanOrder(rows)
	if err != nil {
		return ordering.Order{}, err
	}
	if !rows.NextResultSet() {
		if err := rows.Err(); err != nil {
			return ordering.Order{}, err
		}
		return ordering.Order{}, fmt.Errorf("order %s: the items' result set is missing", id)
	}
	for rows.Next() {
		var it ordering.Item
		if err := rows.Scan(&it.ProductID, &it.Qty, &it.UnitPriceCents, &it.SubtotalCents); err != nil {
			return ordering.Order{}, err
		}
		o.Items = append(o.Items, it)
	}
	return o, rows.Err()
}

// saveOrder adds to b the write of the mutable part of an order, if fn
// changed it. The domain moves UpdatedAt with every change.
func saveOrder(b *batch, before, o ordering.Order) {
	if o.Status == before.Status && o.UpdatedAt.Equal(before.UpdatedAt) {
		return
	}
	b.add(`UPDATE orders SET status = ?, updated_at = ?, confirmed_at = ?, canceled_at = ? WHERE id = ?`,
		string(o.Status), o.UpdatedAt, o.ConfirmedAt, o.CanceledAt, o.ID[:])
}

// Confirm applies fn to the locked order and stores render's bytes under
// claim's key, in one transaction whose first statement claims the key: a
// concurrent confirm with the same key waits on it, then replays the bytes
// this one stored. When fn or render fails, everything rolls back, the key
// included, so the key can be used again.
//
// The transaction makes three round trips (BatchDB.lockTx): the key INSERT
// and the order's locking read with its items; the order's UPDATE and the
// key's response; COMMIT.
func (s *OrderStore) Confirm(ctx context.Context, id uuid.UUID, claim idempotency.Claim,
	fn func(*ordering.Order) error, render func(ordering.Order) ([]byte, error)) (ordering.Confirmation, error) {
	for attempt := 1; ; attempt++ {
		var body []byte
		err := withRetries(ctx, func() error {
			read := newTxBatch()
			read.add(insertKeySQL, keyArgs(claim, id, keyInProgress, s.now())...)
			lockOrder(read, id)
			var before ordering.Order
			return s.batches.lockTx(ctx, read, func(rows *sql.Rows) error {
				var err error
				before, err = scanLockedOrder(rows, id)
				return err
			}, func() (*batch, error) {
				o := before
				if err := fn(&o); err != nil {
					return nil, err
				}
				var err error
				if body, err = render(o); err != nil {
					return nil, err
				}
				var w batch
				saveOrder(&w, before, o)
				w.add(completeKeySQL, completeKeyArgs(claim, 200, body)...)
				return &w, nil
			})
		})
		if isDuplicate(err) {
			err = errKeyTaken
		}
		if !errors.Is(err, errKeyTaken) {
			if err != nil {
				return ordering.Confirmation{}, err
			}
			return ordering.Confirmation{Body: body}, nil
		}
		k, retry, err := settleKey(ctx, s.db, claim, s.now())
		if err != nil {
			return ordering.Confirmation{}, err
		}
		if !retry {
			return ordering.Confirmation{Body: k.Body, Replayed: true}, nil
		}
		if attempt == maxReruns {
			return ordering.Confirmation{}, fmt.Errorf("confirm order %s: key %q kept changing for %d attempts", id, claim.Key, attempt)
		}
	}
}

// Cancel applies fn to the locked order and, when fn says so, gives its
// items' stock back in the same transaction. The product rows are locked by
// one UPDATE in ascending id order, as a placement locks them, sent with
// the order's UPDATE as one query and followed by COMMIT (BatchDB.lockTx).
func (s *OrderStore) Cancel(ctx context.Context, id uuid.UUID, fn func(*ordering.Order) (bool, error)) (ordering.Order, error) {
	var o ordering.Order
	err := withRetries(ctx, func() error {
		read := newTxBatch()
		lockOrder(read, id)
		var before ordering.Order
		return s.batches.lockTx(ctx, read, func(rows *sql.Rows) error {
			var err error
			before, err = scanLockedOrder(rows, id)
			return err
		}, func() (*batch, error) {
			o = before
			o.Items = append([]ordering.Item(nil), before.Items...)
			restock, err := fn(&o)
			if err != nil {
				return nil, err
			}
			var w batch
			if restock && len(before.Items) > 0 {
				lines := make([]ordering.Line, len(before.Items))
				for i, it := range before.Items {
					lines[i] = ordering.Line{ProductID: it.ProductID, Qty: it.Qty}
				}
				give := newCaseUpdate(lines)
				give.sql.WriteString(`UPDATE products SET stock = stock + `)
				give.caseBy(func(l ordering.Line) int64 { return l.Qty })
				give.sql.WriteString(`, version = version + 1, updated_at = ?`)
				give.args = append(give.args, o.UpdatedAt)
				give.whereIDs()
				w.add(give.sql.String(), give.args...)
			}
			saveOrder(&w, before, o)
			return &w, nil
		})
	})
	if err != nil {
		return ordering.Order{}, err
	}
	return o, nil
}
