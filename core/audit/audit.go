// Package audit says who a change was made for and under which request, so
// that the records written with a change (stock movements, order events)
// name them. The HTTP adapters put the authenticated caller into the
// context; the stores read it back when they write those records.
package audit

import (
	"context"
	"unicode/utf8"

	"github.com/b2borders/platform/core/correlation"
)

// Service is the actor of a change made with the service token, or by the
// service on its own (the reservation expiry sweep).
const Service = "service"

// MaxActorLen is the longest actor recorded, in characters; a longer JWT
// subject is cut to it.
const MaxActorLen = 255

type key struct{}

// WithActor returns ctx carrying actor: an operator's JWT subject, or
// Service.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, key{}, actor)
}

// Trail is who made a change and under which request.
type Trail struct {
	// Actor is the operator's JWT subject, or Service.
	Actor string
	// RequestID is the request's correlation id; empty for the work a
	// service does on its own.
	RequestID string
}

// From returns the trail ctx carries. A change made without an
// authenticated caller is the service's own.
func From(ctx context.Context) Trail {
	actor, _ := ctx.Value(key{}).(string)
	if actor == "" {
		actor = Service
	}
	if utf8.RuneCountInString(actor) > MaxActorLen {
		actor = string([]rune(actor)[:MaxActorLen])
	}
	return Trail{Actor: actor, RequestID: correlation.ID(ctx)}
}
