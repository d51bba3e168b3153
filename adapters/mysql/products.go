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

// Create inserts p and its product.stock_changed event; the unique key on
// sku decides races.
func (s *ProductStore) Create(ctx context.Context, p catalog.Product) error {
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

// Update locks the product row, applies fn and writes the result one
// version up, with a product.stock_changed event when fn changed the stock
// (catalog.AnnounceStock). The sku, id and creation time are not fn's to
// change.
func (s *ProductStore) Update(ctx context.Context, id uuid.UUID, fn func(*catalog.Product) error) (catalog.Product, error) {
	var p catalog.Product
	var evs []events.Event
	err := s.db.tx(ctx, "update product "+id.String(), func(ctx context.Context, tx *sql.Tx) error {
		evs = nil
		before, err := scanProduct(tx.QueryRowContext(ctx,
			`SELECT `+productColumns+` FROM products WHERE id = ? FOR UPDATE`, id[:]))
		if errors.Is(err, sql.ErrNoRows) {
			return productNotFound(id)
		}
		if err != nil {
			return err
		}
		p = before
		if err := fn(&p); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE products SET name = ?, price_cents = ?, stock = ?, version = version + 1, updated_at = ? WHERE id = ?`,
			p.Name, p.PriceCents, p.Stock, p.UpdatedAt, id[:])
		if err != nil {
			return checkViolation(err)
		}
		p.Version++
		if !catalog.AnnounceStock(before.Stock, p.Stock, true) {
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
