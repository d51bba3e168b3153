package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/b2borders/platform/core/audit"
	"github.com/b2borders/platform/core/errs"
)

// Principal is who a request acts for.
type Principal struct {
	// Subject is the operator's JWT subject, or "service".
	Subject string
	Service bool
}

// anonymousOperator is the actor of an operator whose token names no
// subject.
const anonymousOperator = "operator"

// actor is who the changes of the principal's requests are recorded for:
// the JWT subject, or audit.Service for the service token.
func (p Principal) actor() string {
	switch {
	case p.Service:
		return audit.Service
	case p.Subject == "":
		return anonymousOperator
	}
	return p.Subject
}

// PrincipalFrom returns the authenticated caller of a request.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey).(Principal)
	return p, ok
}

// Auth checks the two kinds of bearer token: operator JWTs (HS256 with the
// shared secret, exp required, iat when present not in the future) and the
// service token other services send.
type Auth struct {
	secret       []byte
	serviceToken []byte
	parser       *jwt.Parser
}

// Leeway is how far clocks may disagree when checking exp, nbf and iat.
const Leeway = 30 * time.Second

// AuthConfig holds the secrets bearer tokens are checked against.
type AuthConfig struct {
	JWTSecret    string
	ServiceToken string
}

// NewAuth returns an Auth for the given secrets.
func NewAuth(cfg AuthConfig) *Auth {
	return &Auth{
		secret:       []byte(cfg.JWTSecret),
		serviceToken: []byte(cfg.ServiceToken),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			// A token issued later than now, by more than the leeway, was
			// minted on a wrong clock or to outlive its stated lifetime.
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
		),
	}
}

// MintJWT signs an operator token for subject that expires after ttl.
func MintJWT(secret, subject string, ttl time.Duration) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   subject,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}).SignedString([]byte(secret))
}

func (a *Auth) isServiceToken(token string) bool {
	return subtle.ConstantTimeCompare([]byte(token), a.serviceToken) == 1
}

// looksLikeJWT tells a token that claims to be a JWT (and so earns a 401 when
// it is bad) from one that can only be a wrong service token (403).
func looksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2
}

func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", errs.New(errs.Unauthorized, "an Authorization: Bearer token is required")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", errs.New(errs.Unauthorized, "the Authorization header must be Bearer <token>")
	}
	return strings.TrimSpace(token), nil
}

// Authenticate returns who a bearer token stands for.
func (a *Auth) Authenticate(r *http.Request) (Principal, error) {
	token, err := bearer(r)
	if err != nil {
		return Principal{}, err
	}
	if a.isServiceToken(token) {
		return Principal{Subject: "service", Service: true}, nil
	}
	if !looksLikeJWT(token) {
		return Principal{}, errs.New(errs.Forbidden, "the service token is not valid")
	}
	var claims jwt.RegisteredClaims
	if _, err := a.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return a.secret, nil }); err != nil {
		return Principal{}, errs.New(errs.Unauthorized, "the bearer token is not a valid, unexpired operator token")
	}
	return Principal{Subject: claims.Subject}, nil
}

// RequireCaller admits operators and services.
func (a *Auth) RequireCaller(next http.Handler) http.Handler {
	return a.require(next, false)
}

// RequireService admits only the service token.
func (a *Auth) RequireService(next http.Handler) http.Handler {
	return a.require(next, true)
}

func (a *Auth) require(next http.Handler, serviceOnly bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err == nil && serviceOnly && !p.Service {
			err = errs.New(errs.Forbidden, "this endpoint is for services only")
		}
		if serviceOnly && errs.Is(err, errs.Unauthorized) {
			if _, berr := bearer(r); berr == nil {
				err = errs.New(errs.Forbidden, "this endpoint is for services only")
			}
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		ctx := audit.WithActor(context.WithValue(r.Context(), principalKey, p), p.actor())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
