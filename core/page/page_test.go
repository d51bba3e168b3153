package page

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
)

var testCodec = NewCodec([]byte("0123456789abcdef0123456789abcdef"))

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{Created: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), ID: uuid.Must(uuid.NewV7())}
	r, err := testCodec.NewRequest(5, testCodec.Encode(c))
	if err != nil {
		t.Fatal(err)
	}
	if r.Limit != 5 || r.After == nil || !r.After.Created.Equal(c.Created) || r.After.ID != c.ID {
		t.Fatalf("decoded %+v, want %+v", r.After, c)
	}
}

func TestNewRequestRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		limit  int
		cursor string
	}{
		{-1, ""}, {MaxLimit + 1, ""}, {10, "!!"}, {10, "e30"}, {10, "bnVsbA"},
	} {
		if _, err := testCodec.NewRequest(tc.limit, tc.cursor); !errs.Is(err, errs.Invalid) {
			t.Errorf("NewRequest(%d, %q) = %v, want a validation error", tc.limit, tc.cursor, err)
		}
	}
	if r, err := testCodec.NewRequest(0, ""); err != nil || r.Limit != DefaultLimit || r.After != nil {
		t.Fatalf("defaults: %+v, %v", r, err)
	}
}

// A cursor names a position in a list; only the service may choose one. A
// token it did not sign, one signed with another key, and one altered or cut
// short are all refused, naming the cursor.
func TestForgedCursorsAreRefused(t *testing.T) {
	c := Cursor{Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ID: uuid.Must(uuid.NewV7())}
	unsigned, _ := json.Marshal(map[string]any{"t": c.Created, "i": c.ID})
	issued := testCodec.Encode(c)
	raw, _ := base64.RawURLEncoding.DecodeString(issued)
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)-3] ^= 1
	other := NewCodec([]byte("another key, another deployment"))
	for name, token := range map[string]string{
		"unsigned JSON":   base64.RawURLEncoding.EncodeToString(unsigned),
		"another key":     other.Encode(c),
		"a bit flipped":   base64.RawURLEncoding.EncodeToString(flipped),
		"tag only":        base64.RawURLEncoding.EncodeToString(raw[:32]),
		"payload dropped": issued[:len(issued)-4],
	} {
		_, err := testCodec.NewRequest(10, token)
		var e *errs.Error
		if !errs.Is(err, errs.Invalid) || !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != "cursor" {
			t.Errorf("%s: NewRequest = %v, want a validation error naming cursor", name, err)
		}
	}
	if _, err := testCodec.NewRequest(10, issued); err != nil {
		t.Fatalf("the issued cursor: %v", err)
	}
}

func TestBuild(t *testing.T) {
	key := func(n int) Cursor { return Cursor{ID: uuid.UUID{byte(n)}} }
	p := Build([]int{1, 2, 3}, 2, key)
	if len(p.Items) != 2 || !p.HasMore || p.Next == nil || p.Next.ID != key(2).ID {
		t.Fatalf("full page: %+v", p)
	}
	p = Build([]int{1, 2}, 2, key)
	if len(p.Items) != 2 || p.HasMore || p.Next != nil {
		t.Fatalf("last page: %+v", p)
	}
	if p := Build[int](nil, 2, key); p.Items == nil || len(p.Items) != 0 {
		t.Fatalf("empty page must hold an empty, non-nil slice: %+v", p)
	}
}
