package mysql

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"

	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/page"
)

// CustomerStore keeps customers in customers_db.
type CustomerStore struct {
	db *DB
	// get reads one live customer, which every order placed asks for.
	get *prepared
}

var _ customer.Repository = (*CustomerStore)(nil)

// NewCustomerStore returns a store over db.
func NewCustomerStore(db *DB) *CustomerStore {
	return &CustomerStore{db: db, get: newPrepared(db.DB, `SELECT `+customerColumns+` FROM customers WHERE id = ? AND deleted_at IS NULL`)}
}

const customerColumns = "id, name, email, phone, created_at, updated_at"

func scanCustomer(row interface{ Scan(...any) error }) (customer.Customer, error) {
	var c customer.Customer
	err := row.Scan(&c.ID, &c.Name, &c.Email, &c.Phone, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

func customerNotFound(id uuid.UUID) error {
	return errs.New(errs.NotFound, "customer %s not found", id)
}

func emailTaken(email string) error {
	return errs.New(errs.EmailTaken, "a customer with email %s already exists", email)
}

// Create inserts c; the unique key on live emails decides races.
func (s *CustomerStore) Create(ctx context.Context, c customer.Customer) error {
	return s.db.run(ctx, "create customer", func(ctx context.Context) error {
		_, err := s.db.ExecContext(ctx,
			`INSERT INTO customers (id, name, email, phone, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			c.ID[:], c.Name, c.Email, c.Phone, c.CreatedAt, c.UpdatedAt)
		if isDuplicate(err) {
			return emailTaken(c.Email)
		}
		return err
	})
}

// Get returns a live customer.
func (s *CustomerStore) Get(ctx context.Context, id uuid.UUID) (customer.Customer, error) {
	var c customer.Customer
	err := s.db.run(ctx, "get customer", func(ctx context.Context) error {
		var err error
		c, err = scanCustomer(s.get.queryRow(ctx, id[:]))
		if errors.Is(err, sql.ErrNoRows) {
			return customerNotFound(id)
		}
		return err
	})
	return c, err
}

// Search lists live customers newest first, one page at a time.
func (s *CustomerStore) Search(ctx context.Context, q customer.Query) (page.Page[customer.Customer], error) {
	b := sq.Select(customerColumns).From("customers").Where("deleted_at IS NULL")
	if q.Search != "" {
		like := "%" + escapeLike(q.Search) + "%"
		b = b.Where(sq.Or{sq.Like{"name": like}, sq.Like{"email": like}, sq.Like{"phone": like}})
	}
	b = afterCursor(b, q.Page.After)
	var rows []customer.Customer
	err := s.db.run(ctx, "search customers", func(ctx context.Context) error {
		var err error
		rows, err = queryPage(ctx, s.db.DB, b, q.Page.Limit, scanCustomer)
		return err
	})
	if err != nil {
		return page.Page[customer.Customer]{}, err
	}
	return page.Build(rows, q.Page.Limit, func(c customer.Customer) page.Cursor {
		return page.Cursor{Created: c.CreatedAt, ID: c.ID}
	}), nil
}

// Update locks the customer row, applies fn and writes the result.
func (s *CustomerStore) Update(ctx context.Context, id uuid.UUID, fn func(*customer.Customer) error) (customer.Customer, error) {
	var c customer.Customer
	err := s.db.tx(ctx, "update customer "+id.String(), func(ctx context.Context, tx *sql.Tx) error {
		var err error
		c, err = scanCustomer(tx.QueryRowContext(ctx,
			`SELECT `+customerColumns+` FROM customers WHERE id = ? AND deleted_at IS NULL FOR UPDATE`, id[:]))
		if errors.Is(err, sql.ErrNoRows) {
			return customerNotFound(id)
		}
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE customers SET name = ?, email = ?, phone = ?, updated_at = ? WHERE id = ?`,
			c.Name, c.Email, c.Phone, c.UpdatedAt, id[:])
		if isDuplicate(err) {
			return emailTaken(c.Email)
		}
		return err
	})
	return c, err
}

// Delete marks a live customer deleted, freeing its email.
func (s *CustomerStore) Delete(ctx context.Context, id uuid.UUID, at time.Time) error {
	return s.db.run(ctx, "delete customer "+id.String(), func(ctx context.Context) error {
		res, err := s.db.ExecContext(ctx,
			`UPDATE customers SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL`, at, at, id[:])
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, customerNotFound(id))
		}
		return nil
	})
}

// escapeLike makes user input match literally inside a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
