// Package idempotency makes commands safe to retry: a client names an
// attempt with a key, the first attempt's outcome is stored under it, and
// every later attempt with that key gets the same outcome instead of
// running the command again.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
)

// Scope separates the commands that take keys, so one key may name both the
// creation of an order and its confirmation, as the orchestrator does.
type Scope string

// The commands that take idempotency keys.
const (
	PlaceOrder   Scope = "order.place"
	ConfirmOrder Scope = "order.confirm"
)

// MaxKeyLen is the longest key a client may send.
const MaxKeyLen = 255

// DefaultTTL is how long a key is remembered.
const DefaultTTL = 24 * time.Hour

// Claim is an attempt to run a command under a key. Fingerprint sums the
// request, so that the same key sent with another request is told apart
// from a retry.
type Claim struct {
	Scope       Scope
	Key         string
	Fingerprint string
	// CreatedAt is when the attempt was made, ExpiresAt when its key is
	// forgotten: both by the use case's clock.
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Record is a key as a store keeps it: what the first attempt did.
type Record struct {
	// TargetID is what the command acted on: the order placed or confirmed.
	TargetID    uuid.UUID
	Fingerprint string
	// Response is the stored answer, for commands that replay one.
	Response  []byte
	ExpiresAt time.Time
}

// UsedError is a store's answer to a claim whose key is already recorded:
// nothing was written, and Record says what the key did before. A zero
// Record stands for a key that vanished before it could be read.
type UsedError struct {
	Record Record
}

func (e *UsedError) Error() string { return "idempotency key already used" }

// Settle decides what an attempt whose key is already recorded gets, by the
// caller's clock: replay when the record answers it; an error when the key
// was used for another request; neither when the record expired by now, in
// which case the caller forgets it and runs the command again.
func (c Claim) Settle(r Record, now time.Time) (replay bool, err error) {
	switch {
	case !r.ExpiresAt.After(now):
		return false, nil
	case r.Fingerprint != c.Fingerprint:
		return false, errs.New(errs.IdempotencyKeyReused, "idempotency key %q was used with a different request", c.Key)
	}
	return true, nil
}

// ValidKey reports whether key can name an attempt: 1 to MaxKeyLen
// printable ASCII characters, the first and the last not a space. HTTP
// drops the spaces around a header's value, so " k " sent in a header
// arrives as "k": a key that starts or ends with a space would name another
// attempt's key once it travelled in a header.
func ValidKey(key string) bool {
	if len(key) < 1 || len(key) > MaxKeyLen || key[0] == ' ' || key[len(key)-1] == ' ' {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// Fingerprint returns a digest of a request's canonical parts.
func Fingerprint(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

// Purger forgets keys whose time is up.
type Purger interface {
	// Purge deletes keys that expired before now and returns how many.
	Purge(ctx context.Context, now time.Time) (int64, error)
}
