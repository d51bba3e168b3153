// Package page holds the keyset pagination shared by every list use case:
// newest first, with an opaque cursor naming the last row a client has seen.
package page

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
)

// Limits on how many rows one page holds.
const (
	DefaultLimit = 10
	MaxLimit     = 100
)

// Cursor is the position after which the next page starts: the creation
// time and id of the last row returned. Rows are ordered by (created, id)
// descending, so the pair is unique and stable under concurrent inserts.
type Cursor struct {
	Created time.Time
	ID      uuid.UUID
}

type wireCursor struct {
	T time.Time `json:"t"`
	I uuid.UUID `json:"i"`
}

// Encode returns the cursor's opaque base64url form.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(wireCursor{T: c.Created.UTC(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Request is a validated page request. A nil After asks for the first page.
type Request struct {
	Limit int
	After *Cursor
}

// NewRequest validates a limit (0 means the default) and an opaque cursor
// ("" means the first page), reporting both problems at once.
func NewRequest(limit int, cursor string) (Request, error) {
	var fields errs.Fields
	r := Request{Limit: limit}
	if r.Limit == 0 {
		r.Limit = DefaultLimit
	}
	if r.Limit < 1 || r.Limit > MaxLimit {
		fields.Add("limit", "must be a whole number from 1 to %d", MaxLimit)
	}
	if cursor != "" {
		c, ok := decode(cursor)
		if ok {
			r.After = &c
		} else {
			fields.Add("cursor", "is not a cursor this service issued")
		}
	}
	return r, fields.Err()
}

func decode(s string) (Cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, false
	}
	var w wireCursor
	if err := json.Unmarshal(b, &w); err != nil || w.T.IsZero() || w.I == uuid.Nil {
		return Cursor{}, false
	}
	return Cursor{Created: w.T, ID: w.I}, true
}

// Page is one page of results, newest first.
type Page[T any] struct {
	Items   []T
	Next    *Cursor
	HasMore bool
	Limit   int
}

// Build trims rows fetched with Limit+1 to one page, deriving HasMore from
// the extra row and the next cursor from the last row kept.
func Build[T any](rows []T, limit int, key func(T) Cursor) Page[T] {
	p := Page[T]{Items: rows, Limit: limit}
	if len(rows) > limit {
		p.Items, p.HasMore = rows[:limit], true
		c := key(p.Items[limit-1])
		p.Next = &c
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p
}
