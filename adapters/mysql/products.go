package mysql

import (
	"context"
	"database/sql"
	"errors"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"

	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/events"
	"github.com/b2borders/platform/core/page"
)

// ProductStore keeps the catalogue in orders_db.
type ProductStore struct {
	db *DB
	// get reads one product: the GET path's only query.
	get *prepared
}

var _ catalog.Store = (*ProductStore)(nil)

// NewProductStore returns a store over db.
func NewProductStore(db *DB) *ProductStore {
	return &ProductStore{db: db, get: newPrepared(db.DB, `SELECT `+productColumns+` FROM products WHERE id = ?`)}
}

const productColumns = "id, sku, name, price_cents, stock, version, created_at, updated_at"

func scanProduct(row interface{ Scan(...any) error }) (catalog.Product, error) {
	var p catalog.Product
	err := row.Scan(&p.ID, &p.SKU, &p.Name, &p.PriceCents, &p.Stock, &p.Version, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

func productNotFound(id uuid.UUID) error {
	return errs.New(errs.NotFound, "product %s not found", id)
}

// Create inserts p, the movement that opens its ledger with its initial
// stock and its product.stock_changed event, in one transaction; the
// unique key on sku decides races.
func (s *ProductStore) Create(ctx context.Context, p catalog.Product) error {
	m, err := movement(ctx, p.ID, p.Stock, catalog.Created, catalog.ReasonCreated, uuid.Nil, p.CreatedAt)
	if err != nil {
		return err
	}
	e, err := s.db.stockEvent(p)
	if err != nil {
		return err
	}
	err = s.db.tx(ctx, "create product", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO products (`+productColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID[:], p.SKU, p.Name, p.PriceCents, p.Stock, p.Version, p.CreatedAt, p.UpdatedAt)
		if isDuplicate(err) {
			return errs.New(errs.SKUTaken, "a product with sku %s already exists", p.SKU)
		}
		if err != nil {
			return checkViolation(err)
		}
		if err := insertMovements(ctx, tx, []catalog.Movement{m}); err != nil {
			return err
		}
		return insertOutbox(ctx, tx, e)
	})
	if err == nil {
		s.db.committed(e)
	}
	return err
}

// Get returns a product.
func (s *ProductStore) Get(ctx context.Context, id uuid.UUID) (catalog.Product, error) {
	var p catalog.Product
	err := s.db.run(ctx, "get product", func(ctx context.Context) error {
		var err error
		p, err = scanProduct(s.get.queryRow(ctx, id[:]))
		if errors.Is(err, sql.ErrNoRows) {
			return productNotFound(id)
		}
		return err
	})
	return p, err
}

// Search lists products newest first, one page at a time, matching the
// search text anywhere in the sku or the name.
func (s *ProductStore) Search(ctx context.Context, q catalog.Query) (page.Page[catalog.Product], error) {
	b := sq.Select(productColumns).From("products")
	if q.Search != "" {
		like := "%" + escapeLike(q.Search) + "%"
		b = b.Where(sq.Or{sq.Like{"sku": like}, sq.Like{"name": like}})
	}
	b = afterCursor(b, q.Page.After)
	var rows []catalog.Product
	err := s.db.run(ctx, "search products", func(ctx context.Context) error {
		var err error
		rows, err = queryPage(ctx, s.db.DB, b, q.Page.Limit, scanProduct)
		return err
	})
	if err != nil {
		return page.Page[catalog.Product]{}, err
	}
	return page.Build(rows, q.Page.Limit, func(p catalog.Product) page.Cursor {
		return page.Cursor{Created: p.CreatedAt, ID: p.ID}
	}), nil
}

// lockProduct reads a product and locks its row until the transaction
// ends.
func lockProduct(ctx context.Context, tx *sql.Tx, id uuid.UUID) (catalog.Product, error) {
	p, err := scanProduct(tx.QueryRowContext(ctx,
		`SELECT `+productColumns+` FROM products WHERE id = ? FOR UPDATE`, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return p, productNotFound(id)
	}
	return p, err
}

// Update locks the product row, applies fn and writes the result one
// version up, with a Set movement of the difference when fn changed the
// stock: the difference is taken from the locked row, so it is exact
// whatever placements ran before. A change of the stock is announced too,
// with a product.stock_changed event (catalog.AnnounceStock). The sku, id
// and creation time are not fn's to change.
func (s *ProductStore) Update(ctx context.Context, id uuid.UUID, fn func(*catalog.Product) error) (catalog.Product, error) {
	var p catalog.Product
	var evs []events.Event
	err := s.db.tx(ctx, "update product "+id.String(), func(ctx context.Context, tx *sql.Tx) error {
		evs = nil
		var err error
		if p, err = lockProduct(ctx, tx, id); err != nil {
			return err
		}
		before := p.Stock
		if err := fn(&p); err != nil {
			return err
		}
		if p.Stock != before {
			m, err := movement(ctx, id, p.Stock-before, catalog.Set, catalog.ReasonSet(p.Stock), uuid.Nil, p.UpdatedAt)
			if err != nil {
				return err
			}
			if err := insertMovements(ctx, tx, []catalog.Movement{m}); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE products SET name = ?, price_cents = ?, stock = ?, version = version + 1, updated_at = ? WHERE id = ?`,
			p.Name, p.PriceCents, p.Stock, p.UpdatedAt, id[:])
		if err != nil {
			return checkViolation(err)
		}
		p.Version++
		if !catalog.AnnounceStock(before, p.Stock, true) {
			return nil
		}
		evs, err = s.db.writeStockEvents(ctx, tx, []catalog.Product{p})
		return err
	})
	if err != nil {
		return catalog.Product{}, err
	}
	s.db.committed(evs...)
	return p, nil
}

// errShort ends an adjustment whose UPDATE matched no row: the product
// is missing or its stock too low, which is told apart after the rollback.
var errShort = errors.New("stock adjustment refused")

// Adjust moves the stock by a relative delta in one transaction:
//
//	INSERT the movement;
//	UPDATE products SET stock = stock + delta … WHERE id = ? AND
//	  stock + delta >= 0, which takes the row lock;
//	SELECT the product, under the lock it holds, for the answer;
//	INSERT its product.stock_changed event into the outbox, whose payload
//	  is the product that read returned: one round trip more under the
//	  row lock, for an operator's adjustment, which is rare;
//	COMMIT, or ROLLBACK if the UPDATE matched no row.
//
// The movement goes first, as in a placement, so that the row lock is held
// only for the UPDATE, the read and the COMMIT. Relative, the adjustment
// loses no placement's decrement and needs no version from the client.
func (s *ProductStore) Adjust(ctx context.Context, a catalog.Adjustment) (catalog.Product, error) {
	m, err := movement(ctx, a.ProductID, a.Delta, catalog.Adjusted, a.Reason, uuid.Nil, a.At)
	if err != nil {
		return catalog.Product{}, err
	}
	var p catalog.Product
	var evs []events.Event
	err = s.db.tx(ctx, "adjust stock of product "+a.ProductID.String(), func(ctx context.Context, tx *sql.Tx) error {
		evs = nil
		if err := insertMovements(ctx, tx, []catalog.Movement{m}); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE products SET stock = stock + ?, version = version + 1, updated_at = ? WHERE id = ? AND stock + ? >= 0`,
			a.Delta, a.At, a.ProductID[:], a.Delta)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			if err == nil {
				err = errShort
			}
			return err
		}
		if p, err = lockProduct(ctx, tx, a.ProductID); err != nil {
			return err
		}
		evs, err = s.db.writeStockEvents(ctx, tx, []catalog.Product{p})
		return err
	})
	if err == nil {
		s.db.committed(evs...)
	}
	if errors.Is(err, errShort) {
		cur, err := s.Get(ctx, a.ProductID)
		if err != nil {
			return catalog.Product{}, err
		}
		return catalog.Product{}, &errs.Error{
			Code:    errs.InsufficientStock,
			Message: "the adjustment would take the stock below zero",
			Details: []catalog.Shortage{{ProductID: a.ProductID, Available: cur.Stock, Requested: -a.Delta}},
		}
	}
	return p, err
}

// Movements lists a product's stock movements newest first.
func (s *ProductStore) Movements(ctx context.Context, q catalog.MovementQuery) (page.Page[catalog.Movement], error) {
	return history(ctx, s.db, "list stock movements", "stock_movements", movementColumns, "product_id", q.ProductID, "products",
		q.Page, scanMovement, func(m catalog.Movement) page.Cursor { return page.Cursor{Created: m.CreatedAt, ID: m.ID} },
		productNotFound(q.ProductID))
}

// Error numbers of a failed CHECK constraint: MySQL's, then MariaDB's.
const (
	errCheckMySQL   = 3819
	errCheckMariaDB = 4025
)

// checkViolation turns a failed CHECK constraint, which only a value the
// use cases should have refused can cause, into a validation error rather
// than an internal one.
func checkViolation(err error) error {
	if n := errNumber(err); n == errCheckMySQL || n == errCheckMariaDB {
		return errs.New(errs.Invalid, "price_cents and stock must be zero or more")
	}
	return err
}
