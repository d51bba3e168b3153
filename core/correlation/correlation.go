// Package correlation carries the id that ties together everything done for
// one request, across services: the HTTP adapters read it from and write it
// to X-Request-ID and X-Correlation-ID, and logs name it.
package correlation

import "context"

type key struct{}

// WithID returns ctx carrying id.
func WithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// ID returns the id ctx carries, or "".
func ID(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}
