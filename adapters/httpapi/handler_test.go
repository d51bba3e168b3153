package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

type panicking struct{}

func (panicking) Register(r *mux.Router, _ *Auth) {
	r.HandleFunc("/boom", func(http.ResponseWriter, *http.Request) { panic("secret internal detail") })
	r.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errors.New("dial tcp 10.0.0.7:3306: secret internal detail"))
	})
}

func newTestHandler(ready func(context.Context) error, logs *bytes.Buffer) http.Handler {
	log := slog.New(slog.NewJSONHandler(logs, nil))
	slog.SetDefault(log)
	return NewHandler(log, Ops{Ready: ready, Registry: prometheus.NewRegistry(), OpenAPI: []byte("openapi: 3.0.3")},
		NewAuth(AuthConfig{JWTSecret: "0123456789abcdef", ServiceToken: "fedcba9876543210"}), panicking{})
}

func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestReadyReflectsTheDatabase(t *testing.T) {
	var down error
	h := newTestHandler(func(context.Context) error { return down }, &bytes.Buffer{})
	if rec := serve(h, "GET", "/ready"); rec.Code != 200 {
		t.Fatalf("ready while up: %d", rec.Code)
	}
	down = errors.New("connection refused")
	rec := serve(h, "GET", "/ready")
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || rec.Header().Get("Content-Type") != ProblemContentType {
		t.Fatalf("ready while down: %d %v", rec.Code, rec.Header())
	}
	if rec := serve(h, "GET", "/health"); rec.Code != 200 {
		t.Fatalf("health must not depend on the database: %d", rec.Code)
	}
}

func TestFailuresDoNotLeakInternals(t *testing.T) {
	for _, path := range []string{"/boom", "/fail"} {
		var logs bytes.Buffer
		h := newTestHandler(func(context.Context) error { return nil }, &logs)
		rec := serve(h, "GET", path)
		if rec.Code != 500 {
			t.Fatalf("%s: status %d", path, rec.Code)
		}
		var p Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != "internal" || p.Detail != "internal error" {
			t.Fatalf("%s: body %s", path, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "secret internal detail") {
			t.Fatalf("%s: internal detail reached the client", path)
		}
		if !strings.Contains(logs.String(), "secret internal detail") || !strings.Contains(logs.String(), p.RequestID) {
			t.Fatalf("%s: the failure was not logged with its request id: %s", path, logs.String())
		}
	}
}
