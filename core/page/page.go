// Package page holds the keyset pagination shared by every list use case:
// newest first, with an opaque, signed cursor naming the last row a client
// has seen.
package page

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
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

// Codec turns cursors into opaque tokens and back. A token is the base64url
// form of an HMAC-SHA256 tag followed by the JSON of the cursor, so a token
// the holder of the key did not issue, or one altered in any bit, is
// refused. Every replica that serves the same lists must use the same key.
type Codec struct {
	key []byte
}

// NewCodec returns a Codec that signs with key, which must not be empty.
func NewCodec(key []byte) Codec {
	if len(key) == 0 {
		panic("page: a cursor codec needs a key")
	}
	return Codec{key: append([]byte(nil), key...)}
}

func (k Codec) tag(payload []byte) []byte {
	if len(k.key) == 0 {
		panic("page: a cursor codec needs a key")
	}
	mac := hmac.New(sha256.New, k.key)
	mac.Write(payload)
	return mac.Sum(nil)
}

// Encode returns the cursor's opaque, signed base64url form.
func (k Codec) Encode(c Cursor) string {
	payload, _ := json.Marshal(wireCursor{T: c.Created.UTC(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(append(k.tag(payload), payload...))
}

// Request is a validated page request. A nil After asks for the first page.
type Request struct {
	Limit int
	After *Cursor
}

// NewRequest validates a limit (0 means the default) and an opaque cursor
// ("" means the first page) this codec issued, reporting both problems at
// once.
func (k Codec) NewRequest(limit int, cursor string) (Request, error) {
	var fields errs.Fields
	r := Request{Limit: limit}
	if r.Limit == 0 {
		r.Limit = DefaultLimit
	}
	if r.Limit < 1 || r.Limit > MaxLimit {
		fields.Add("limit", "must be a whole number from 1 to %d", MaxLimit)
	}
	if cursor != "" {
		c, ok := k.decode(cursor)
		if ok {
			r.After = &c
		} else {
			fields.Add("cursor", "is not a cursor this service issued")
		}
	}
	return r, fields.Err()
}

func (k Codec) decode(s string) (Cursor, bool) {
	payload, ok := k.open(s)
	if !ok {
		return Cursor{}, false
	}
	var w wireCursor
	if err := json.Unmarshal(payload, &w); err != nil || w.T.IsZero() || w.I == uuid.Nil {
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

type wirePosition struct {
	P *int64 `json:"p"`
}

// EncodePosition returns a position in an ordered feed (0 for its start)
// as an opaque, signed token, as Encode does a cursor.
func (k Codec) EncodePosition(p int64) string {
	payload, _ := json.Marshal(wirePosition{P: &p})
	return base64.RawURLEncoding.EncodeToString(append(k.tag(payload), payload...))
}

// DecodePosition returns the position a token of EncodePosition names;
// false for any other token, a list cursor included.
func (k Codec) DecodePosition(s string) (int64, bool) {
	payload, ok := k.open(s)
	if !ok {
		return 0, false
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var w wirePosition
	if err := dec.Decode(&w); err != nil || w.P == nil || *w.P < 0 {
		return 0, false
	}
	return *w.P, true
}

// open returns the payload of a token signed with k.
func (k Codec) open(s string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) <= sha256.Size {
		return nil, false
	}
	tag, payload := b[:sha256.Size], b[sha256.Size:]
	return payload, hmac.Equal(tag, k.tag(payload))
}
