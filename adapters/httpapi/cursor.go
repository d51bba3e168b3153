package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"

	"github.com/b2borders/platform/core/page"
)

// cursorKeyLabel names the use of the key derived from the JWT secret, so
// that a cursor's tag is never a valid signature of anything else signed
// with that secret, and the other way round.
const cursorKeyLabel = "b2b-orders/list-cursor/v1"

// NewCursorCodec returns the codec every list endpoint signs its cursors
// with. Its key is derived from the JWT secret, which every replica of a
// service already shares, so a cursor issued by one replica is honoured by
// all, and no other setting is needed. Changing the JWT secret retires the
// cursors issued before: a client then gets 400 and starts over from the
// first page.
func NewCursorCodec(cfg AuthConfig) page.Codec {
	mac := hmac.New(sha256.New, []byte(cfg.JWTSecret))
	mac.Write([]byte(cursorKeyLabel))
	return page.NewCodec(mac.Sum(nil))
}
