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

// MaxLen is the longest id accepted from outside.
const MaxLen = 128

// Valid reports whether an id sent by a client may be adopted: 1 to MaxLen
// printable ASCII characters without spaces, what a well-behaved proxy
// sends and nothing that could forge a log line or a header.
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
