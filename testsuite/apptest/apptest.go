// Package apptest boots the real service shells on free ports and talks HTTP
// to them, for end-to-end tests.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/apps/wire/shell"
)

// Secrets every test stack shares.
const (
	JWTSecret    = "test-jwt-secret-0123456789abcdef"
	ServiceToken = "test-service-token-0123456789abcdef"
)

// Logger discards the logs of apps under test.
func Logger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// Boot starts the app module builds, with its server on a free port
// (the module's config must say port 0), and stops it when t ends. It
// returns the server's base URL and the app, to stop early.
func Boot(t testing.TB, module fx.Option) (string, *fx.App) {
	t.Helper()
	var srv *shell.Server
	app := fx.New(module, fx.Populate(&srv))
	if err := app.Err(); err != nil {
		t.Fatalf("build app: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start app: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		app.Stop(ctx)
	})
	addr := srv.Addr()
	return "http://127.0.0.1" + addr[strings.LastIndex(addr, ":"):], app
}

// OperatorToken returns a valid operator JWT for the test secret.
func OperatorToken(t testing.TB) string {
	t.Helper()
	tok, err := httpapi.MintJWT(JWTSecret, "operator@test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Client sends requests to one service with one bearer token.
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// Response is an answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test when it cannot.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Problem decodes a problem+json body, failing the test when the answer is
// not one.
func (r *Response) Problem(t testing.TB) httpapi.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != httpapi.ProblemContentType {
		t.Fatalf("content type %q, want %s; body %s", ct, httpapi.ProblemContentType, r.Body)
	}
	var p httpapi.Problem
	r.JSON(t, &p)
	return p
}

// Do sends a request. body may be nil, a []byte or string sent as is, or a
// value sent as JSON; header pairs follow as key, value, key, value.
func (c *Client) Do(t testing.TB, method, path string, body any, header ...string) *Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Want fails the test unless the answer has the given status.
func (r *Response) Want(t testing.TB, status int) *Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	return r
}
