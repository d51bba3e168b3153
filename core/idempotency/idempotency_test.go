package idempotency

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
)

func TestSettle(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	claim := Claim{Scope: PlaceOrder, Key: "k", Fingerprint: "same"}
	for _, tc := range []struct {
		name   string
		record Record
		replay bool
		code   errs.Code
	}{
		{"a live record of the same request replays", Record{TargetID: uuid.New(), Fingerprint: "same", ExpiresAt: now.Add(time.Second)}, true, ""},
		{"a live record of another request is a reused key", Record{Fingerprint: "other", ExpiresAt: now.Add(time.Second)}, false, errs.IdempotencyKeyReused},
		{"a record that expired now is forgotten", Record{Fingerprint: "other", ExpiresAt: now}, false, ""},
		{"a vanished record is forgotten", Record{}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replay, err := claim.Settle(tc.record, now)
			var code errs.Code
			if err != nil {
				code = errs.CodeOf(err)
			}
			if replay != tc.replay || code != tc.code {
				t.Fatalf("replay %v, error %v; want replay %v, code %q", replay, err, tc.replay, tc.code)
			}
		})
	}
}
