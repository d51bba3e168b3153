// Package ordering is the life of an order: placed against the catalogue's
// stock, confirmed, or canceled with its stock given back, or expired, its
// stock given back, when it is not confirmed within the reservation TTL;
// each command safe to retry with an idempotency key, each change recorded
// in the order's history.
package ordering

import (
	"math"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/events"
)

// Status is where an order is in its life.
type Status string

// An order is CREATED when placed, then CONFIRMED, and CANCELED from
// either; a CREATED order not confirmed by its deadline becomes EXPIRED.
// CANCELED and EXPIRED are final.
const (
	Created   Status = "CREATED"
	Confirmed Status = "CONFIRMED"
	Canceled  Status = "CANCELED"
	Expired   Status = "EXPIRED"
)

// Statuses lists every status, in the order of an order's life.
var Statuses = []Status{Created, Confirmed, Canceled, Expired}

// ParseStatus accepts the statuses as written above.
func ParseStatus(s string) (Status, bool) {
	switch st := Status(s); st {
	case Created, Confirmed, Canceled, Expired:
		return st, true
	}
	return "", false
}

// EventType names a change in an order's life.
type EventType string

// The events of an order's history, one per change of its status.
const (
	EventPlaced    EventType = "placed"
	EventConfirmed EventType = "confirmed"
	EventCanceled  EventType = "canceled"
	EventExpired   EventType = "expired"
)

// Event is one line of an order's history, written in the transaction of
// the change it records.
type Event struct {
	ID      uuid.UUID
	OrderID uuid.UUID
	Type    EventType
	// Actor is the operator's JWT subject, or "service".
	Actor string
	// RequestID is the request the change was made in; empty for the
	// expiry sweep.
	RequestID string
	CreatedAt time.Time
}

// Item is one line of an order, its price fixed when the order was placed.
type Item struct {
	ProductID      uuid.UUID
	Qty            int64
	UnitPriceCents int64
	SubtotalCents  int64
}

// Order is a customer's order.
type Order struct {
	ID          uuid.UUID
	CustomerID  uuid.UUID
	Status      Status
	TotalCents  int64
	Items       []Item
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ConfirmedAt *time.Time
	CanceledAt  *time.Time
	// ExpiresAt is when a CREATED order's reservation of its stock ends;
	// nil when it has no deadline (placed while expiry was off).
	ExpiresAt *time.Time
}

// Shortage is one line that stock cannot cover.
type Shortage = catalog.Shortage

// InsufficientStock is the error for lines stock cannot cover; its Details
// list every short line.
func InsufficientStock(short []Shortage) error {
	return &errs.Error{Code: errs.InsufficientStock, Message: "not enough stock for every line", Details: short}
}

// productIDs lists the draft's products in lock order.
func (d Draft) productIDs() []uuid.UUID {
	ids := make([]uuid.UUID, len(d.Lines))
	for i, l := range d.Lines {
		ids[i] = l.ProductID
	}
	return ids
}

// Price makes the order d describes at the given unit prices: an item per
// line, its subtotal, and the total. A product without a price does not
// exist; a total past what int64 cents hold is refused.
func (d Draft) Price(prices map[uuid.UUID]int64) (Order, error) {
	o := Order{
		ID: d.ID, CustomerID: d.CustomerID, Status: Created,
		Items:     make([]Item, len(d.Lines)),
		CreatedAt: d.CreatedAt, UpdatedAt: d.CreatedAt,
		ExpiresAt: d.ExpiresAt,
	}
	var missing []string
	for i, l := range d.Lines {
		price, ok := prices[l.ProductID]
		if !ok {
			missing = append(missing, l.ProductID.String())
			continue
		}
		if price > 0 && l.Qty > (math.MaxInt64-o.TotalCents)/price {
			var fe errs.Fields
			fe.Add("items", "make a total of more cents than a 64-bit integer holds")
			return Order{}, fe.Err()
		}
		o.Items[i] = Item{ProductID: l.ProductID, Qty: l.Qty, UnitPriceCents: price, SubtotalCents: price * l.Qty}
		o.TotalCents += price * l.Qty
	}
	if len(missing) > 0 {
		return Order{}, errs.New(errs.ProductNotFound, "unknown products: %s", strings.Join(missing, ", "))
	}
	return o, nil
}

// Shortages lists every line the stock cannot cover, a product that does
// not exist counting as none in stock.
func (d Draft) Shortages(stock map[uuid.UUID]Stock) []Shortage {
	var short []Shortage
	for _, l := range d.Lines {
		if have := stock[l.ProductID].Available; have < l.Qty {
			short = append(short, Shortage{ProductID: l.ProductID, Available: have, Requested: l.Qty})
		}
	}
	return short
}

// Due reports whether a CREATED order's reservation has run out by now.
func (o *Order) Due(now time.Time) bool {
	return o.Status == Created && o.ExpiresAt != nil && !now.Before(*o.ExpiresAt)
}

// Confirm moves a CREATED order to CONFIRMED and reports whether it changed
// anything: confirming a confirmed order is a no-op. An order whose
// reservation ran out cannot be confirmed, whether or not the sweep has
// made it EXPIRED yet: the deadline, not the sweep's timing, decides.
func (o *Order) Confirm(now time.Time) (bool, error) {
	switch o.Status {
	case Created:
		if o.Due(now) {
			return false, errs.New(errs.InvalidTransition, "order %s's reservation expired at %s; it can no longer be confirmed",
				o.ID, o.ExpiresAt.UTC().Format(time.RFC3339Nano))
		}
		o.Status, o.ConfirmedAt, o.UpdatedAt = Confirmed, &now, now
		return true, nil
	case Confirmed:
		return false, nil
	default:
		return false, errs.New(errs.InvalidTransition, "order %s is %s and cannot be confirmed", o.ID, o.Status)
	}
}

// Cancel moves an order to CANCELED and reports whether its stock must be
// given back. A confirmed order may be canceled only within window of its
// confirmation; canceling a canceled order is a no-op; an expired order
// gave its stock back already and cannot be canceled. A CREATED order past
// its deadline that the sweep has not reached yet may still be canceled:
// either way its stock is given back once.
func (o *Order) Cancel(now time.Time, window time.Duration) (restock bool, err error) {
	switch o.Status {
	case Canceled:
		return false, nil
	case Expired:
		return false, errs.New(errs.InvalidTransition, "order %s is %s and cannot be canceled", o.ID, o.Status)
	case Confirmed:
		if o.ConfirmedAt == nil || now.Sub(*o.ConfirmedAt) > window {
			return false, errs.New(errs.CancelWindowExpired,
				"order %s was confirmed more than %s ago and can no longer be canceled", o.ID, window)
		}
	}
	o.Status, o.CanceledAt, o.UpdatedAt = Canceled, &now, now
	return true, nil
}

// Expire moves a CREATED order to EXPIRED; its stock must be given back.
func (o *Order) Expire(now time.Time) {
	o.Status, o.UpdatedAt = Expired, now
}

// Revision counts the states an order has been in: 1 when placed, one more
// per transition. It is the sequence number of the order's events, so a
// consumer can tell a later state from an earlier one, without gaps. The
// transitions leave their marks on the order: confirmed_at, canceled_at,
// and EXPIRED, which only a CREATED order reaches and never leaves.
func (o Order) Revision() int64 {
	n := int64(1)
	for _, t := range []*time.Time{o.ConfirmedAt, o.CanceledAt} {
		if t != nil {
			n++
		}
	}
	if o.Status == Expired {
		n++
	}
	return n
}

// Announce returns the type of the event that announces an order's change
// from before to after, and false when the change is not announced: a
// command that changed nothing (a confirm of a confirmed order, a cancel of
// a canceled one). A placement is before's zero Order.
func Announce(before, after Order) (events.Type, bool) {
	if before.Status == after.Status {
		return "", false
	}
	switch after.Status {
	case Created:
		return events.OrderPlaced, true
	case Confirmed:
		return events.OrderConfirmed, true
	case Canceled:
		return events.OrderCanceled, true
	case Expired:
		return events.OrderExpired, true
	}
	return "", false
}

// Announcement is the event of type t announcing o as it is now, with payload
// the order as the API renders it.
func Announcement(t events.Type, o Order, payload []byte) (events.Event, error) {
	id, err := uuid.NewV7()
	return events.Event{
		ID: id, Type: t, Resource: events.Resource{Type: events.Order, ID: o.ID},
		Seq: o.Revision(), Payload: payload, OccurredAt: o.UpdatedAt,
	}, err
}
