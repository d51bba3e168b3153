package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/page"
)

// A cursor of the right shape that the service did not sign, such as one
// made from a chosen (created_at, id), is refused naming cursor; one it
// issued is accepted.
func TestPageRequestRefusesForgedCursors(t *testing.T) {
	cursors := NewCursorCodec(AuthConfig{JWTSecret: "0123456789abcdef0123456789abcdef"})
	pos := page.Cursor{Created: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), ID: uuid.Must(uuid.NewV7())}
	forged, _ := json.Marshal(map[string]any{"t": pos.Created, "i": pos.ID})
	issued := cursors.Encode(pos)
	for name, tc := range map[string]struct {
		cursor string
		ok     bool
	}{
		"issued":           {issued, true},
		"forged":           {base64.RawURLEncoding.EncodeToString(forged), false},
		"another secret's": {NewCursorCodec(AuthConfig{JWTSecret: "another-secret-0123456789abcdef"}).Encode(pos), false},
	} {
		var fe errs.Fields
		req := pageRequest(httptest.NewRequest("GET", "/customers?cursor="+tc.cursor, nil), cursors, &fe)
		switch {
		case tc.ok && (len(fe) != 0 || req.After == nil || req.After.ID != pos.ID):
			t.Errorf("%s: %+v, %v", name, req, fe)
		case !tc.ok && (len(fe) != 1 || fe[0].Field != "cursor"):
			t.Errorf("%s: fields %v, want one naming cursor", name, fe)
		}
	}
}

// The cursor key is derived from the JWT secret but is not the secret: a
// cursor's tag is not an HMAC under the JWT secret itself.
func TestCursorKeyIsNotTheJWTSecret(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	pos := page.Cursor{Created: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), ID: uuid.Must(uuid.NewV7())}
	if bytes.Equal([]byte(NewCursorCodec(AuthConfig{JWTSecret: secret}).Encode(pos)), []byte(page.NewCodec([]byte(secret)).Encode(pos))) {
		t.Fatal("cursors are signed with the JWT secret itself")
	}
}
