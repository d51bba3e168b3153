package ordering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/idempotency"
	"github.com/b2borders/platform/core/page"
)

// CustomerDirectory tells whether a customer may order. The orders service
// asks the customers service; errs.NotFound means unknown or deleted.
type CustomerDirectory interface {
	Get(ctx context.Context, id uuid.UUID) (customer.Customer, error)
}

// Line asks for qty units of a product.
type Line struct {
	ProductID uuid.UUID
	Qty       int64
}

// Draft is a validated order, ready to be placed: lines merged per product
// and sorted by product id, the order in which their rows are locked.
type Draft struct {
	ID         uuid.UUID
	CustomerID uuid.UUID
	Lines      []Line
	CreatedAt  time.Time
	// ExpiresAt is the deadline of the order's reservation; nil for none.
	ExpiresAt *time.Time
	// Claim, when set, makes placing the draft idempotent.
	Claim *idempotency.Claim
}

// Confirmation is the outcome of a confirm command: the response stored
// under its key, and whether it was replayed rather than produced now.
type Confirmation struct {
	Body     []byte
	Replayed bool
}

// Query filters an order search; zero fields do not filter. From and To
// bound created_at, both inclusive.
type Query struct {
	Status     Status
	CustomerID uuid.UUID
	From, To   time.Time
	Page       page.Request
}

// Stock is a product as a placement sees it: its price and its stock.
type Stock struct {
	PriceCents int64
	Available  int64
}

// ErrStockMoved is a store's answer to a placement whose products no longer
// have the prices the order charges or the stock it takes: nothing was
// written.
var ErrStockMoved = errors.New("stock or price changed")

// Store keeps orders and moves the stock they take. Each write is one
// transaction: it happens whole or not at all, whatever runs beside it.
// Every method wraps its errors with its operation; a database that is
// down, too slow or too contended is errs.DependencyUnavailable.
//
// Every change of an order's status writes one Event in its transaction,
// and every change of a product's stock one catalog.Movement (kind Placed,
// Canceled or Expired, with the order's id), so that the order's history is
// complete and each product's stock stays the sum of its movements. Both
// name the actor and request id the context carries (see package audit)
// and have UUIDv7 ids; their time is the order's UpdatedAt after the
// change.
type Store interface {
	// Prices returns the price of each product in ids that exists. They may
	// come from a cache: Place never trusts them.
	Prices(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int64, error)
	// Stock reads the price and stock of each product in ids that exists,
	// as they are now.
	Stock(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Stock, error)
	// Place writes o with its items, its Placed event and a Placed movement
	// per item, and takes their stock, but only if every product still has
	// the item's unit price and stock for its quantity; otherwise it writes
	// nothing and returns ErrStockMoved. With a claim, the key is recorded
	// with the order; a key recorded before writes nothing and returns
	// *idempotency.UsedError. The time the product rows stay locked must not
	// grow with what is written beside them: the stock UPDATE that locks
	// them comes after every insert, right before COMMIT.
	Place(ctx context.Context, o Order, claim *idempotency.Claim) error
	// Get returns an order with its items; errs.NotFound when there is none.
	Get(ctx context.Context, id uuid.UUID) (Order, error)
	Search(ctx context.Context, q Query) (page.Page[Order], error)
	// Confirm locks the order, applies fn, stores the order (with a
	// Confirmed event when its status changed) and records render's bytes
	// under claim's key, all at once, and returns the bytes. A key recorded
	// before writes nothing and returns *idempotency.UsedError. The order
	// row's lock is what keeps a confirm and the expiry sweep from both
	// taking the order: whichever locks it first decides.
	Confirm(ctx context.Context, id uuid.UUID, claim idempotency.Claim,
		fn func(*Order) error, render func(Order) ([]byte, error)) ([]byte, error)
	// Cancel locks the order, applies fn and stores the order, with a
	// Canceled event when its status changed; when fn returns true, the
	// stock of its items is given back in the same transaction, with a
	// Canceled movement per item.
	Cancel(ctx context.Context, id uuid.UUID, fn func(*Order) (restock bool, err error)) (Order, error)
	// Expire makes at most limit CREATED orders whose deadline is at or
	// before now EXPIRED, in one transaction, and gives their stock back
	// with an Expired event per order and an Expired movement per item. It
	// skips orders another transaction holds (a confirm, a cancel, another
	// replica's sweep): those are decided by that transaction, or taken by
	// a later sweep. It returns how many orders it expired.
	Expire(ctx context.Context, now time.Time, limit int) (int, error)
	// Events lists an order's history newest first; errs.NotFound when the
	// order does not exist.
	Events(ctx context.Context, q EventQuery) (page.Page[Event], error)
	// ForgetKey deletes claim's key if it expired by now, so that the
	// command can run again under it.
	ForgetKey(ctx context.Context, claim idempotency.Claim, now time.Time) error
}

// EventQuery asks for a page of one order's history.
type EventQuery struct {
	OrderID uuid.UUID
	Page    page.Request
}

// Config tunes the use cases.
type Config struct {
	// CancelWindow is how long after confirmation an order may be canceled.
	CancelWindow time.Duration
	// ReservationTTL is how long a placed order holds its stock unless it
	// is confirmed; after it, the order cannot be confirmed, and the sweep
	// (ExpireDue) makes it EXPIRED and gives the stock back. Zero turns
	// expiry off: orders get no deadline, and confirms do not check one.
	ReservationTTL time.Duration
	// IdempotencyTTL is how long a key is remembered.
	IdempotencyTTL time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Defaults for Config's zero fields.
const DefaultCancelWindow = 10 * time.Minute

// DefaultReservationTTL is the reservation TTL a service is configured
// with when its configuration names none; in Config, zero means off.
const DefaultReservationTTL = 30 * time.Minute

// IdempotencyKeyField names the key in validation errors; each transport
// says how its clients send it.
const IdempotencyKeyField = "idempotency_key"

// maxAttempts bounds how often a command runs again because what it
// depends on changed under it: a price or stock between the read and the
// write, or an expired key forgotten.
const maxAttempts = 5

// errBusy is the answer when a command kept losing those races.
func errBusy(what string) error {
	return errs.New(errs.DependencyUnavailable, "%s kept changing while the request ran; try again", what)
}

// Limits on an order's lines.
const (
	MaxLines = 100
	MaxQty   = 1_000_000
)

// Service is the order use cases.
type Service struct {
	store     Store
	customers CustomerDirectory
	cfg       Config
}

// NewService returns the use cases over store, checking customers with dir.
func NewService(store Store, dir CustomerDirectory, cfg Config) *Service {
	if cfg.CancelWindow <= 0 {
		cfg.CancelWindow = DefaultCancelWindow
	}
	if cfg.IdempotencyTTL <= 0 {
		cfg.IdempotencyTTL = idempotency.DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{store: store, customers: dir, cfg: cfg}
}

func (s *Service) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Microsecond)
}

// PlaceRequest is an order as a client asks for it. IdempotencyKey is
// optional.
type PlaceRequest struct {
	CustomerID     uuid.UUID
	Lines          []Line
	IdempotencyKey string
}

// Draft validates r, reporting every invalid field at once, and merges
// repeated products into one line.
func (r PlaceRequest) Draft() (Draft, error) {
	var fe errs.Fields
	if r.CustomerID == uuid.Nil {
		fe.Add("customer_id", "is required")
	}
	if n := len(r.Lines); n < 1 || n > MaxLines {
		fe.Add("items", "must hold 1 to %d lines", MaxLines)
	}
	qty := make(map[uuid.UUID]int64, len(r.Lines))
	for i, l := range r.Lines {
		if l.ProductID == uuid.Nil {
			fe.Add(fmt.Sprintf("items[%d].product_id", i), "is required")
		}
		if l.Qty < 1 || l.Qty > MaxQty {
			fe.Add(fmt.Sprintf("items[%d].qty", i), "must be 1 to %d", MaxQty)
		}
		qty[l.ProductID] += l.Qty
	}
	if r.IdempotencyKey != "" && !idempotency.ValidKey(r.IdempotencyKey) {
		fe.Add(IdempotencyKeyField, "must be 1 to %d printable ASCII characters, not starting or ending with a space", idempotency.MaxKeyLen)
	}
	if err := fe.Err(); err != nil {
		return Draft{}, err
	}
	d := Draft{CustomerID: r.CustomerID, Lines: make([]Line, 0, len(qty))}
	for id, q := range qty {
		if q > MaxQty {
			fe.Add("items", "asks for more than %d units of product %s", MaxQty, id)
		}
		d.Lines = append(d.Lines, Line{ProductID: id, Qty: q})
	}
	slices.SortFunc(d.Lines, func(a, b Line) int { return bytes.Compare(a.ProductID[:], b.ProductID[:]) })
	return d, fe.Err()
}

// fingerprint sums the request in its merged, sorted form, so that a retry
// that lists the same lines in another order is still the same request.
func (d Draft) fingerprint() string {
	parts := []string{d.CustomerID.String()}
	for _, l := range d.Lines {
		parts = append(parts, fmt.Sprintf("%s:%d", l.ProductID, l.Qty))
	}
	return idempotency.Fingerprint(parts...)
}

// Place checks the customer, then places the order. The customer is asked
// before any row is locked, so a slow customers service never holds stock.
// replayed reports that the key had placed this order before.
//
// The order is priced at the catalogue's prices, which may be cached, and
// the store writes it only if every product still has that price and the
// stock; if one has not, stock and prices are read afresh: short lines are
// refused all at once, and otherwise the order is priced again.
func (s *Service) Place(ctx context.Context, r PlaceRequest) (o Order, replayed bool, err error) {
	d, err := r.Draft()
	if err != nil {
		return Order{}, false, err
	}
	if _, err := s.customers.Get(ctx, d.CustomerID); err != nil {
		if errs.Is(err, errs.NotFound) {
			return Order{}, false, errs.New(errs.CustomerNotFound, "customer %s does not exist", d.CustomerID)
		}
		return Order{}, false, err
	}
	if d.ID, err = uuid.NewV7(); err != nil {
		return Order{}, false, err
	}
	d.CreatedAt = s.now()
	if s.cfg.ReservationTTL > 0 {
		at := d.CreatedAt.Add(s.cfg.ReservationTTL)
		d.ExpiresAt = &at
	}
	if r.IdempotencyKey != "" {
		d.Claim = &idempotency.Claim{
			Scope:       idempotency.PlaceOrder,
			Key:         r.IdempotencyKey,
			Fingerprint: d.fingerprint(),
			CreatedAt:   d.CreatedAt,
			ExpiresAt:   d.CreatedAt.Add(s.cfg.IdempotencyTTL),
		}
	}
	ids := d.productIDs()
	prices, err := s.store.Prices(ctx, ids)
	if err != nil {
		return Order{}, false, err
	}
	for range maxAttempts {
		o, err := d.Price(prices)
		if err != nil {
			return Order{}, false, err
		}
		err = s.store.Place(ctx, o, d.Claim)
		var used *idempotency.UsedError
		switch {
		case err == nil:
			return o, false, nil
		case errors.As(err, &used):
			replay, err := s.settle(ctx, *d.Claim, used.Record)
			if err != nil {
				return Order{}, false, err
			}
			if replay {
				o, err := s.store.Get(ctx, used.Record.TargetID)
				return o, err == nil, err
			}
		case errors.Is(err, ErrStockMoved):
			stock, err := s.store.Stock(ctx, ids)
			if err != nil {
				return Order{}, false, err
			}
			if short := d.Shortages(stock); len(short) > 0 {
				return Order{}, false, InsufficientStock(short)
			}
			prices = make(map[uuid.UUID]int64, len(stock))
			for id, st := range stock {
				prices[id] = st.PriceCents
			}
		default:
			return Order{}, false, err
		}
	}
	return Order{}, false, errBusy("the catalogue")
}

// settle decides what an attempt gets whose key was recorded before: a
// replay, an error, or, when the record had expired, nothing, once it is
// forgotten and the command may run again.
func (s *Service) settle(ctx context.Context, c idempotency.Claim, r idempotency.Record) (replay bool, err error) {
	now := s.now()
	replay, err = c.Settle(r, now)
	if err != nil || replay {
		return replay, err
	}
	return false, s.store.ForgetKey(ctx, c, now)
}

// Get returns an order with its items.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Order, error) {
	return s.store.Get(ctx, id)
}

// Search lists orders newest first.
func (s *Service) Search(ctx context.Context, q Query) (page.Page[Order], error) {
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		var fe errs.Fields
		fe.Add("to", "must not be before from")
		return page.Page[Order]{}, fe.Err()
	}
	return s.store.Search(ctx, q)
}

// Confirm confirms an order under a required idempotency key. render turns
// the confirmed order into the response stored with the key, which every
// retry with the key gets back unchanged.
func (s *Service) Confirm(ctx context.Context, id uuid.UUID, key string, render func(Order) ([]byte, error)) (Confirmation, error) {
	if !idempotency.ValidKey(key) {
		var fe errs.Fields
		fe.Add(IdempotencyKeyField, "is required: 1 to %d printable ASCII characters, not starting or ending with a space", idempotency.MaxKeyLen)
		return Confirmation{}, fe.Err()
	}
	for range maxAttempts {
		now := s.now()
		claim := idempotency.Claim{
			Scope:       idempotency.ConfirmOrder,
			Key:         key,
			Fingerprint: idempotency.Fingerprint(id.String()),
			CreatedAt:   now,
			ExpiresAt:   now.Add(s.cfg.IdempotencyTTL),
		}
		body, err := s.store.Confirm(ctx, id, claim, func(o *Order) error {
			if s.cfg.ReservationTTL <= 0 {
				// Expiry is off: no deadline is enforced, not even one an
				// order got while it was on, since no sweep would release it.
				o.ExpiresAt = nil
			}
			_, err := o.Confirm(now)
			return err
		}, render)
		var used *idempotency.UsedError
		if !errors.As(err, &used) {
			return Confirmation{Body: body}, err
		}
		replay, err := s.settle(ctx, claim, used.Record)
		if err != nil {
			return Confirmation{}, err
		}
		if replay {
			return Confirmation{Body: used.Record.Response, Replayed: true}, nil
		}
	}
	return Confirmation{}, errBusy("the idempotency key")
}

// Cancel cancels an order and gives its stock back, once.
func (s *Service) Cancel(ctx context.Context, id uuid.UUID) (Order, error) {
	now := s.now()
	return s.store.Cancel(ctx, id, func(o *Order) (bool, error) {
		return o.Cancel(now, s.cfg.CancelWindow)
	})
}

// ExpireBatch bounds the orders one sweep transaction expires: enough to
// clear a backlog quickly, few enough that the transaction stays short.
const ExpireBatch = 100

// ExpireDue makes every CREATED order whose reservation ran out EXPIRED and
// gives its stock back, a batch per transaction, and returns how many it
// expired. Every replica may run it at once: a batch skips the orders
// another transaction holds, so no order is expired twice, and an order
// being confirmed ends either CONFIRMED or EXPIRED. It does nothing while
// expiry is off.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	if s.cfg.ReservationTTL <= 0 {
		return 0, nil
	}
	now := s.now()
	total := 0
	for {
		n, err := s.store.Expire(ctx, now, ExpireBatch)
		total += n
		if err != nil || n < ExpireBatch {
			return total, err
		}
	}
}

// SweepInterval is how often a replica sweeps for expired reservations,
// given the TTL: a tenth of it, so an order is EXPIRED within about a tenth
// of its TTL after its deadline, but at least every 30s and at most every
// second. Zero when expiry is off.
func SweepInterval(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return min(max(ttl/10, time.Second), 30*time.Second)
}

// Events lists an order's history, newest first.
func (s *Service) Events(ctx context.Context, q EventQuery) (page.Page[Event], error) {
	return s.store.Events(ctx, q)
}
