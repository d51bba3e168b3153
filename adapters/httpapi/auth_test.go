package httpapi

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/b2borders/platform/core/errs"
)

func TestTokensIssuedInTheFutureAreRefused(t *testing.T) {
	const secret = "0123456789abcdef"
	a := NewAuth(AuthConfig{JWTSecret: secret, ServiceToken: "fedcba9876543210"})
	now := time.Now()
	for _, tc := range []struct {
		name string
		iat  *time.Time
		ok   bool
	}{
		{"no iat", nil, true},
		{"issued a minute ago", new(now.Add(-time.Minute)), true},
		{"issued within the leeway ahead", new(now.Add(Leeway / 2)), true},
		{"issued past the leeway ahead", new(now.Add(2 * Leeway)), false},
		{"issued a day ahead", new(now.Add(24 * time.Hour)), false},
	} {
		claims := jwt.RegisteredClaims{Subject: "op", ExpiresAt: jwt.NewNumericDate(now.Add(48 * time.Hour))}
		if tc.iat != nil {
			claims.IssuedAt = jwt.NewNumericDate(*tc.iat)
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/customers", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		p, err := a.Authenticate(req)
		switch {
		case tc.ok && (err != nil || p.Subject != "op"):
			t.Errorf("%s: %+v, %v; want the operator", tc.name, p, err)
		case !tc.ok && !errs.Is(err, errs.Unauthorized):
			t.Errorf("%s: %+v, %v; want unauthorized", tc.name, p, err)
		}
	}
}
