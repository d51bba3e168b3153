// Package events is what the platform announces to the outside: a change to
// an order or to a product's stock, written as an event in the transaction of
// the change (a transactional outbox), then paged in commit order by a feed
// and delivered, at least once and in order per resource, by a dispatcher.
//
// An event is written by the store that makes the change, in the same
// transaction, so an event exists exactly when its change committed: there
// is no outbox port to call, since a port would have to carry the store's
// transaction across the boundary. Instead every store port that changes a
// resource says which event it writes (ordering.Store, catalog.Store), the
// rules of what is announced live here and in the domains (ordering.Announce,
// catalog.AnnounceStock), and the contract suites check the stores keep them.
// This package declares the event value and the ports that read and deliver
// what the stores wrote: Feed and Dispatch.
package events

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Type names what happened.
type Type string

// The events the platform announces.
const (
	OrderPlaced    Type = "order.placed"
	OrderConfirmed Type = "order.confirmed"
	OrderCanceled  Type = "order.canceled"
	OrderExpired   Type = "order.expired"
	// ProductStockChanged announces a product's stock: every change an
	// operator makes (a product created, a PATCH of its stock, a stock
	// adjustment),
	// and of the changes orders make, those that empty a product or give
	// stock back to an empty one. See catalog.AnnounceStock.
	ProductStockChanged Type = "product.stock_changed"
)

// Types lists every type, in the order the documentation gives them.
var Types = []Type{OrderPlaced, OrderConfirmed, OrderCanceled, OrderExpired, ProductStockChanged}

// ParseType accepts the types as written above.
func ParseType(s string) (Type, bool) {
	for _, t := range Types {
		if string(t) == s {
			return t, true
		}
	}
	return "", false
}

// ResourceType names the kind of resource an event is about.
type ResourceType string

// The resources events are about.
const (
	Order   ResourceType = "order"
	Product ResourceType = "product"
)

// Resource is what an event is about.
type Resource struct {
	Type ResourceType
	ID   uuid.UUID
}

// Event is one announced change.
type Event struct {
	// ID is a UUIDv7, made when the change was made; a consumer
	// deduplicates by it (webhook-id).
	ID       uuid.UUID
	Type     Type
	Resource Resource
	// Seq grows strictly with every event of the resource, so a consumer
	// can drop an event older than the state it holds. For an order it is
	// the order's revision: 1 when placed, one more per transition, so
	// without gaps. For a product it is the product's version after the
	// change, which also moves with changes that are not announced (a
	// price, a placement that leaves stock), so it may skip numbers.
	Seq int64
	// Payload is the resource as the API renders it after the change: the
	// body GET /orders/{id} or GET /products/{id} answered right then.
	Payload []byte
	// OccurredAt is the time of the change (the resource's updated_at).
	OccurredAt time.Time
}

// Status is where the delivery of an event to the webhook endpoint stands.
type Status string

// The delivery statuses. An event is Pending until delivered, or until it
// failed for good: a 4xx other than 408 and 429, or every attempt used.
// While no endpoint is configured every event stays Pending.
const (
	Pending   Status = "pending"
	Delivered Status = "delivered"
	Failed    Status = "failed"
)

// Delivery is the state of an event's delivery.
type Delivery struct {
	Status   Status
	Attempts int
	// LastError says why the last attempt failed, when one did.
	LastError   string
	DeliveredAt *time.Time
}

// Published is an event as the feed shows it: with its place in commit
// order and the state of its delivery.
type Published struct {
	Event
	// Position orders the feed: a later-committed event never gets a lower
	// position than one a reader may already have seen.
	Position int64
	Delivery Delivery
}

// FeedQuery asks for the events after a position, optionally of some types
// only.
type FeedQuery struct {
	After int64
	Types []Type
	Limit int
}

// FeedPage is one page of the feed. Next is where the next page starts: the
// position of its last event, or the query's After when it has none, so a
// consumer that has seen everything polls again with it.
type FeedPage struct {
	Events  []Published
	Next    int64
	HasMore bool
}

// Feed reads the events in commit order.
type Feed interface {
	Events(ctx context.Context, q FeedQuery) (FeedPage, error)
}

// Claim is an event a dispatcher holds the right to send until Until: no
// other dispatcher claims it before then. Attempt numbers this attempt
// (1 for the first), and marks made under an older attempt are ignored.
type Claim struct {
	Published
	Attempt int
	Until   time.Time
}

// Dispatch is the store side of delivery. Every replica runs a dispatcher;
// the store makes their claims exclusive and keeps each resource's events
// in order.
type Dispatch interface {
	// Publish gives the committed events that have none a position, in
	// commit order, and returns how many it published.
	Publish(ctx context.Context) (int, error)
	// Claim leases up to n pending events, due by now, until now+lease: the
	// oldest undelivered event of each resource at most, so no event is sent
	// before the one before it of the same resource is delivered or failed.
	Claim(ctx context.Context, now time.Time, n int, lease time.Duration) ([]Claim, error)
	// Delivered, Retry and Fail record an attempt's outcome. They change
	// nothing when the claim is no longer c's (its lease ran out and
	// another attempt began).
	Delivered(ctx context.Context, c Claim, at time.Time) error
	Retry(ctx context.Context, c Claim, next time.Time, reason string) error
	Fail(ctx context.Context, c Claim, reason string) error
	// OldestPending is when the oldest event not yet delivered or failed
	// occurred; ok is false when there is none.
	OldestPending(ctx context.Context) (at time.Time, ok bool, err error)
	// Purge deletes the events that occurred before cutoff.
	Purge(ctx context.Context, cutoff time.Time) (int64, error)
}

// DefaultRetention is how long events are kept.
const DefaultRetention = 7 * 24 * time.Hour
