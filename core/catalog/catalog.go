// Package catalog is the product catalogue: what can be ordered, at what
// price, and how many are in stock, with the ledger of movements that
// explains every unit of that stock.
package catalog

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/events"
	"github.com/b2borders/platform/core/page"
)

// Product is one sellable item. Version grows with every change, so a client
// can make a change conditional on the state it has seen.
type Product struct {
	ID         uuid.UUID
	SKU        string
	Name       string
	PriceCents int64
	Stock      int64
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// NewProduct is what creating a product takes.
type NewProduct struct {
	SKU        string
	Name       string
	PriceCents int64
	Stock      int64
}

// Patch changes only the fields it sets. IfVersion, when set, makes the
// change conditional on the product still being at that version.
type Patch struct {
	Name       *string
	PriceCents *int64
	Stock      *int64
	IfVersion  *int64
}

// Query filters a product search; Search matches SKU or name.
type Query struct {
	Search string
	Page   page.Request
}

// Store keeps products and the ledger of their stock.
//
// Every write that changes a product's stock writes one Movement of the
// change in the same transaction, so that a product's stock always equals
// the sum of its movements' deltas, whatever runs beside it. A movement
// names the actor and request id the context carries (see package audit)
// and has a UUIDv7 id.
type Store interface {
	// Create stores p at version 1, with a Created movement of its initial
	// stock; errs.SKUTaken when the SKU exists. SKUs compare
	// case-insensitively and otherwise exactly: "wid-1" is "WID-1", but
	// "CAFÉ-1" is not "CAFE-1", nor "STRASSE" "straße".
	Create(ctx context.Context, p Product) error
	// Get returns a product; errs.NotFound when there is none.
	Get(ctx context.Context, id uuid.UUID) (Product, error)
	Search(ctx context.Context, q Query) (page.Page[Product], error)
	// Update applies fn to the locked current product and stores the
	// result with its version incremented; when fn changed the stock, a Set
	// movement of the difference is written with it.
	Update(ctx context.Context, id uuid.UUID, fn func(*Product) error) (Product, error)
	// Adjust moves a product's stock by a.Delta relative to whatever it is
	// when the row is locked, so that no concurrent change is lost, writes
	// an Adjusted movement with a.Reason, and returns the product as it
	// now is. Stock that would fall below zero changes nothing and is
	// errs.InsufficientStock, its Details a []Shortage; an unknown product
	// is errs.NotFound.
	Adjust(ctx context.Context, a Adjustment) (Product, error)
	// Movements lists a product's movements newest first; errs.NotFound
	// when the product does not exist.
	Movements(ctx context.Context, q MovementQuery) (page.Page[Movement], error)
}

// Kind says what moved a product's stock.
type Kind string

// The kinds of movement.
const (
	// Created is a product's initial stock, or the stock it had when the
	// ledger began.
	Created Kind = "created"
	// Set is the difference an operator's PATCH of the stock made.
	Set Kind = "set"
	// Adjusted is an operator's relative adjustment.
	Adjusted Kind = "adjusted"
	// Placed is the stock an order took (negative).
	Placed Kind = "placed"
	// Canceled is the stock a canceled order gave back.
	Canceled Kind = "canceled"
	// Expired is the stock an order whose reservation expired gave back.
	Expired Kind = "expired"
)

// Movement is one change of a product's stock: an append-only line of its
// ledger.
type Movement struct {
	ID        uuid.UUID
	ProductID uuid.UUID
	Delta     int64
	Kind      Kind
	// Reason says why in words: the operator's for an adjustment, a fixed
	// phrase for the others.
	Reason string
	// OrderID is the order that moved the stock; uuid.Nil when none did.
	OrderID uuid.UUID
	// Actor is the operator's JWT subject, or "service".
	Actor string
	// RequestID is the request the change was made in; empty for the
	// service's own work.
	RequestID string
	CreatedAt time.Time
}

// The reasons the system gives its own movements.
const (
	ReasonCreated  = "initial stock"
	ReasonPlaced   = "order placed"
	ReasonCanceled = "order canceled"
	ReasonExpired  = "order reservation expired"
)

// ReasonSet is the reason of a Set movement: the value the operator set.
func ReasonSet(stock int64) string {
	return "stock set to " + strconv.FormatInt(stock, 10)
}

// MovementQuery asks for a page of one product's movements.
type MovementQuery struct {
	ProductID uuid.UUID
	Page      page.Request
}

// Adjustment moves a product's stock by Delta, for Reason.
type Adjustment struct {
	ProductID uuid.UUID
	Delta     int64
	Reason    string
	At        time.Time
}

// MaxReason is the longest reason an adjustment may give, in characters.
const MaxReason = 200

// Validate reports every invalid field at once: a delta that is zero or
// larger than MaxStock either way, a reason that is blank, too long or not
// text.
func (a Adjustment) Validate() error {
	var fe errs.Fields
	if a.Delta == 0 || a.Delta < -MaxStock || a.Delta > MaxStock {
		fe.Add("delta", "must be a non-zero whole number from %d to %d", -MaxStock, MaxStock)
	}
	if fe.Text("reason", a.Reason) {
		if n := utf8.RuneCountInString(a.Reason); n < 1 || n > MaxReason {
			fe.Add("reason", "must be 1 to %d characters", MaxReason)
		}
	}
	return fe.Err()
}

// Shortage is stock that cannot cover what was asked of it.
type Shortage struct {
	ProductID uuid.UUID `json:"product_id"`
	Available int64     `json:"available"`
	Requested int64     `json:"requested"`
}

// Limits on field lengths, in characters.
const (
	MaxSKU  = 64
	MaxName = 200
)

// MaxStock is the most stock a product may be given, when it is created or
// patched, and the most one adjustment may move it either way. Canceling or
// expiring an order gives back exactly what the order took, and an
// adjustment adds to whatever the stock is, so stock may stand above
// MaxStock; with at most ordering.MaxQty units of a product per order and
// MaxStock per adjustment, reaching what a 64-bit integer holds would take
// billions of adjustments.
const MaxStock = 1_000_000_000

func validName(fe *errs.Fields, name string) {
	if !fe.Text("name", name) {
		return
	}
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxName {
		fe.Add("name", "must be 1 to %d characters", MaxName)
	}
}

func validPrice(fe *errs.Fields, v int64) {
	if v < 0 {
		fe.Add("price_cents", "must be zero or more")
	}
}

func validStock(fe *errs.Fields, v int64) {
	if v < 0 || v > MaxStock {
		fe.Add("stock", "must be 0 to %d", MaxStock)
	}
}

// Validate reports every invalid field at once.
func (n NewProduct) Validate() error {
	var fe errs.Fields
	if fe.Text("sku", n.SKU) {
		if l := utf8.RuneCountInString(n.SKU); l < 1 || l > MaxSKU {
			fe.Add("sku", "must be 1 to %d characters", MaxSKU)
		}
	}
	validName(&fe, n.Name)
	validPrice(&fe, n.PriceCents)
	validStock(&fe, n.Stock)
	return fe.Err()
}

// Validate reports every invalid field at once; a patch must set a field.
func (p Patch) Validate() error {
	var fe errs.Fields
	if p.Name == nil && p.PriceCents == nil && p.Stock == nil {
		fe.Add("body", "must set at least one of name, price_cents, stock")
	}
	if p.Name != nil {
		validName(&fe, *p.Name)
	}
	if p.PriceCents != nil {
		validPrice(&fe, *p.PriceCents)
	}
	if p.Stock != nil {
		validStock(&fe, *p.Stock)
	}
	return fe.Err()
}

// Service is the catalogue use cases.
type Service struct {
	store Store
	clock func() time.Time
}

// NewService returns the use cases over store.
func NewService(store Store) *Service {
	return &Service{store: store, clock: time.Now}
}

// now is the time as the database keeps it: UTC, to the microsecond, so
// what a use case returns equals what a later read gives back.
func (s *Service) now() time.Time {
	return s.clock().UTC().Truncate(time.Microsecond)
}

// Create adds a product to the catalogue.
func (s *Service) Create(ctx context.Context, n NewProduct) (Product, error) {
	n.SKU, n.Name = strings.TrimSpace(n.SKU), strings.TrimSpace(n.Name)
	if err := n.Validate(); err != nil {
		return Product{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Product{}, err
	}
	now := s.now()
	p := Product{ID: id, SKU: n.SKU, Name: n.Name, PriceCents: n.PriceCents, Stock: n.Stock, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := s.store.Create(ctx, p); err != nil {
		return Product{}, err
	}
	return p, nil
}

// Get returns a product.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Product, error) {
	return s.store.Get(ctx, id)
}

// Search lists products, newest first.
func (s *Service) Search(ctx context.Context, q Query) (page.Page[Product], error) {
	q.Search = strings.TrimSpace(q.Search)
	return s.store.Search(ctx, q)
}

// Adjust moves a product's stock by a relative delta, for a reason; see
// Store.Adjust.
func (s *Service) Adjust(ctx context.Context, a Adjustment) (Product, error) {
	a.Reason = strings.TrimSpace(a.Reason)
	if err := a.Validate(); err != nil {
		return Product{}, err
	}
	a.At = s.now()
	return s.store.Adjust(ctx, a)
}

// Movements lists a product's stock movements, newest first.
func (s *Service) Movements(ctx context.Context, q MovementQuery) (page.Page[Movement], error) {
	return s.store.Movements(ctx, q)
}

// Update changes a product; errs.PreconditionFailed when IfVersion is set
// and the product has moved on.
func (s *Service) Update(ctx context.Context, id uuid.UUID, p Patch) (Product, error) {
	if p.Name != nil {
		name := strings.TrimSpace(*p.Name)
		p.Name = &name
	}
	if err := p.Validate(); err != nil {
		return Product{}, err
	}
	return s.store.Update(ctx, id, func(cur *Product) error {
		if p.IfVersion != nil && *p.IfVersion != cur.Version {
			return errs.New(errs.PreconditionFailed, "product %s is at version %d, not %d", id, cur.Version, *p.IfVersion)
		}
		if p.Name != nil {
			cur.Name = *p.Name
		}
		if p.PriceCents != nil {
			cur.PriceCents = *p.PriceCents
		}
		if p.Stock != nil {
			cur.Stock = *p.Stock
		}
		cur.UpdatedAt = s.now()
		return nil
	})
}

// AnnounceStock reports whether a change of a product's stock from before
// to after is announced with a product.stock_changed event. A product's
// creation always is. Every change an operator makes is (a PATCH of the
// stock to another value, a stock adjustment): they are rare
// and deliberate, and a warehouse or ERP wants each. Of the changes orders
// make, only those that empty the product or give stock back to an empty
// one are: orders move stock all the time, their own events carry the
// quantities, and announcing each would double what the hottest path
// writes, under the product's row lock.
func AnnounceStock(before, after int64, byOperator bool) bool {
	if byOperator {
		return before != after
	}
	return (before > 0) != (after > 0)
}

// StockAnnouncement is the product.stock_changed event announcing p as it is
// now, with payload the product as the API renders it. Its sequence is the
// product's version, which every change raises under the product's row
// lock; it may skip numbers, since not every change is announced.
func StockAnnouncement(p Product, payload []byte) (events.Event, error) {
	id, err := uuid.NewV7()
	return events.Event{
		ID: id, Type: events.ProductStockChanged, Resource: events.Resource{Type: events.Product, ID: p.ID},
		Seq: p.Version, Payload: payload, OccurredAt: p.UpdatedAt,
	}, err
}
