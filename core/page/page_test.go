package page

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
)

func TestCursorRoundTrip(t *testing.T) {
	c := Cursor{Created: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), ID: uuid.Must(uuid.NewV7())}
	r, err := NewRequest(5, c.Encode())
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
		if _, err := NewRequest(tc.limit, tc.cursor); !errs.Is(err, errs.Invalid) {
			t.Errorf("NewRequest(%d, %q) = %v, want a validation error", tc.limit, tc.cursor, err)
		}
	}
	if r, err := NewRequest(0, ""); err != nil || r.Limit != DefaultLimit || r.After != nil {
		t.Fatalf("defaults: %+v, %v", r, err)
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
