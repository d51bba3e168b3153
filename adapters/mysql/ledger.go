package mysql

import (
	"context"
	"database/sql"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"

	"github.com/b2borders/platform/core/audit"
	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/ordering"
	"github.com/b2borders/platform/core/page"
)

// The stock ledger (stock_movements) and the orders' history (order_events)
// are append-only: a row is inserted in the transaction of the change it
// records and never changed. Each write that moves stock or changes an
// order's status is one method of ProductStore or OrderStore (Create,
// Update, Adjust; Place, Confirm, Cancel, Expire) and inserts its rows
// through insertMovements and insertEvents below, with one multi-row
// INSERT each, before the statement that locks the contended product rows.

// movement is a movement of delta units of product for the change ctx's
// caller makes at at.
func movement(ctx context.Context, product uuid.UUID, delta int64, kind catalog.Kind, reason string, order uuid.UUID, at time.Time) (catalog.Movement, error) {
	id, err := uuid.NewV7()
	trail := audit.From(ctx)
	return catalog.Movement{
		ID: id, ProductID: product, Delta: delta, Kind: kind, Reason: reason, OrderID: order,
		Actor: trail.Actor, RequestID: trail.RequestID, CreatedAt: at,
	}, err
}

// orderMovements is a movement per item of o, each of sign times the item's
// quantity, at o's UpdatedAt.
func orderMovements(ctx context.Context, o ordering.Order, sign int64, kind catalog.Kind, reason string) ([]catalog.Movement, error) {
	out := make([]catalog.Movement, len(o.Items))
	for i, it := range o.Items {
		var err error
		if out[i], err = movement(ctx, it.ProductID, sign*it.Qty, kind, reason, o.ID, o.UpdatedAt); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// event is the event of order's change to typ, made at at by ctx's caller.
func event(ctx context.Context, order uuid.UUID, typ ordering.EventType, at time.Time) (ordering.Event, error) {
	id, err := uuid.NewV7()
	trail := audit.From(ctx)
	return ordering.Event{ID: id, OrderID: order, Type: typ, Actor: trail.Actor, RequestID: trail.RequestID, CreatedAt: at}, err
}

// insertMovements writes ms with one statement.
func insertMovements(ctx context.Context, tx *sql.Tx, ms []catalog.Movement) error {
	return movementsInsert(ms).exec(ctx, tx)
}

// movementsInsert is the statement that writes ms; none when ms is empty.
func movementsInsert(ms []catalog.Movement) statement {
	if len(ms) == 0 {
		return statement{}
	}
	args := make([]any, 0, 9*len(ms))
	for _, m := range ms {
		var order any
		if m.OrderID != uuid.Nil {
			order = m.OrderID[:]
		}
		args = append(args, m.ID[:], m.ProductID[:], m.Delta, string(m.Kind), m.Reason, order, m.Actor, m.RequestID, m.CreatedAt)
	}
	return statement{`INSERT INTO stock_movements (` + movementColumns + `) VALUES ` + rows(len(ms), 9), args}
}

// insertEvents writes es with one statement.
func insertEvents(ctx context.Context, tx *sql.Tx, es ...ordering.Event) error {
	return eventsInsert(es...).exec(ctx, tx)
}

// eventsInsert is the statement that writes es; none when es is empty.
func eventsInsert(es ...ordering.Event) statement {
	if len(es) == 0 {
		return statement{}
	}
	args := make([]any, 0, 6*len(es))
	for _, e := range es {
		args = append(args, e.ID[:], e.OrderID[:], string(e.Type), e.Actor, e.RequestID, e.CreatedAt)
	}
	return statement{`INSERT INTO order_events (` + eventColumns + `) VALUES ` + rows(len(es), 6), args}
}

// rows is the VALUES list of n rows of width placeholders each.
func rows(n, width int) string {
	row := "(" + placeholders(width) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

const (
	movementColumns = "id, product_id, delta, kind, reason, order_id, actor, request_id, created_at"
	eventColumns    = "id, order_id, type, actor, request_id, created_at"
)

func scanMovement(row interface{ Scan(...any) error }) (catalog.Movement, error) {
	var m catalog.Movement
	var kind string
	var order []byte
	err := row.Scan(&m.ID, &m.ProductID, &m.Delta, &kind, &m.Reason, &order, &m.Actor, &m.RequestID, &m.CreatedAt)
	m.Kind = catalog.Kind(kind)
	if err == nil && order != nil {
		m.OrderID, err = uuid.FromBytes(order)
	}
	return m, err
}

func scanEvent(row interface{ Scan(...any) error }) (ordering.Event, error) {
	var e ordering.Event
	var typ string
	err := row.Scan(&e.ID, &e.OrderID, &typ, &e.Actor, &e.RequestID, &e.CreatedAt)
	e.Type = ordering.EventType(typ)
	return e, err
}

// history pages the rows of table that belong to owner (column ownerCol),
// newest first, after checking that owner exists in ownerTable: a list of
// an unknown owner is notFound, not an empty page.
func history[T any](ctx context.Context, db *DB, op, table, columns, ownerCol string, owner uuid.UUID, ownerTable string,
	req page.Request, scan func(interface{ Scan(...any) error }) (T, error), key func(T) page.Cursor, notFound error) (page.Page[T], error) {
	b := afterCursor(sq.Select(columns).From(table).Where(sq.Eq{ownerCol: owner[:]}), req.After)
	var p page.Page[T]
	err := db.run(ctx, op, func(ctx context.Context) error {
		rows, err := queryPage(ctx, db.DB, b, req.Limit, scan)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			// Every product and order has a row from its creation on, so
			// only an empty page needs to ask whether the owner exists.
			var found int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+ownerTable+` WHERE id = ?`, owner[:]).Scan(&found); err != nil {
				return err
			}
			if found == 0 {
				return notFound
			}
		}
		p = page.Build(rows, req.Limit, key)
		return nil
	})
	return p, err
}
