package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// routed registers routes of the shapes the APIs use: a collection with
// POST and GET behind auth, an item with several methods, and a POST-only
// action.
type routed struct{}

func (routed) Register(r *mux.Router, a *Auth) {
	ok := func(w http.ResponseWriter, _ *http.Request) {
		respond(w, http.StatusOK, map[string]string{"ok": "yes"})
	}
	api := r.NewRoute().Subrouter()
	api.Use(a.RequireCaller)
	api.HandleFunc("/things", ok).Methods(http.MethodPost)
	api.HandleFunc("/things", ok).Methods(http.MethodGet)
	api.HandleFunc("/things/{id}", ok).Methods(http.MethodGet)
	api.HandleFunc("/things/{id}", ok).Methods(http.MethodPut)
	api.HandleFunc("/things/{id}", ok).Methods(http.MethodDelete)
	api.HandleFunc("/things/{id}/act", ok).Methods(http.MethodPost)
}

// newRoutedServer serves routed{} with the APIs' stack on a real
// net/http server, which is what drops the body of a HEAD answer.
func newRoutedServer(t *testing.T) (*httptest.Server, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	h := NewHandler(slog.New(slog.DiscardHandler),
		Ops{Ready: func(context.Context) error { return nil }, Registry: reg, OpenAPI: []byte("openapi: 3.0.3")},
		NewAuth(AuthConfig{JWTSecret: "0123456789abcdef", ServiceToken: "fedcba9876543210"}), routed{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, reg
}

func send(t *testing.T, base, method, path, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res, b
}

func TestMethodNotAllowedNamesTheAllowedMethods(t *testing.T) {
	srv, _ := newRoutedServer(t)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPatch, "/things", "GET, HEAD, POST, OPTIONS"},
		{http.MethodPost, "/things/x", "GET, HEAD, PUT, DELETE, OPTIONS"},
		{http.MethodGet, "/things/x/act", "POST, OPTIONS"},
		{http.MethodHead, "/things/x/act", "POST, OPTIONS"},
		{http.MethodPost, "/health", "GET, HEAD, OPTIONS"},
		{"TRACE", "/metrics", "GET, HEAD, OPTIONS"},
	} {
		res, body := send(t, srv.URL, tc.method, tc.path, "fedcba9876543210")
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d, Allow %q; want 405, Allow %q", tc.method, tc.path, res.StatusCode, res.Header.Get("Allow"), tc.allow)
		}
		if tc.method == http.MethodHead {
			continue
		}
		var p Problem
		if err := json.Unmarshal(body, &p); err != nil || p.Code != methodNotAllowed || !strings.Contains(p.Detail, tc.method) {
			t.Errorf("%s %s: body %s", tc.method, tc.path, body)
		}
	}
}

func TestHeadIsServedWhereverGetIs(t *testing.T) {
	srv, reg := newRoutedServer(t)
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/health", "", http.StatusOK},
		{"/ready", "", http.StatusOK},
		{"/metrics", "", http.StatusOK},
		{"/openapi.yaml", "", http.StatusOK},
		{"/things", "fedcba9876543210", http.StatusOK},
		{"/things/x", "fedcba9876543210", http.StatusOK},
		{"/things/x", "", http.StatusUnauthorized},
	} {
		get, getBody := send(t, srv.URL, http.MethodGet, tc.path, tc.token)
		head, headBody := send(t, srv.URL, http.MethodHead, tc.path, tc.token)
		if head.StatusCode != tc.status || get.StatusCode != tc.status {
			t.Errorf("HEAD %s: %d (GET %d), want %d", tc.path, head.StatusCode, get.StatusCode, tc.status)
		}
		if len(headBody) != 0 {
			t.Errorf("HEAD %s answered with a body: %q", tc.path, headBody)
		}
		if head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s: Content-Type %q, GET's %q", tc.path, head.Header.Get("Content-Type"), get.Header.Get("Content-Type"))
		}
		// The metrics grow between the two requests; elsewhere the HEAD
		// has the GET's length, or none when the GET was sent chunked.
		if tc.path != "/metrics" && head.ContentLength != get.ContentLength {
			t.Errorf("HEAD %s: Content-Length %d, GET's %d (%d bytes)", tc.path, head.ContentLength, get.ContentLength, len(getBody))
		}
	}
	// A HEAD is labelled as such, on the route of the GET it was served as.
	mfs, _ := reg.Gather()
	found := false
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if mf.GetName() == "http_requests_total" && labels["method"] == "HEAD" && labels["route"] == "/things/{id}" && labels["status"] == "200" {
				found = true
			}
		}
	}
	if !found {
		t.Error("no http_requests_total{method=HEAD,route=/things/{id},status=200}")
	}
}

func TestOptionsAnswersAllowOnKnownPaths(t *testing.T) {
	srv, _ := newRoutedServer(t)
	for path, allow := range map[string]string{
		"/health":       "GET, HEAD, OPTIONS",
		"/things":       "GET, HEAD, POST, OPTIONS",
		"/things/x":     "GET, HEAD, PUT, DELETE, OPTIONS",
		"/things/x/act": "POST, OPTIONS",
	} {
		// No token: OPTIONS tells no more than a 405 would.
		res, body := send(t, srv.URL, http.MethodOptions, path, "")
		if res.StatusCode != http.StatusNoContent || res.Header.Get("Allow") != allow || len(body) != 0 {
			t.Errorf("OPTIONS %s: %d, Allow %q, body %q; want 204, Allow %q", path, res.StatusCode, res.Header.Get("Allow"), body, allow)
		}
	}
	if res, _ := send(t, srv.URL, http.MethodOptions, "/nowhere", ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("OPTIONS on an unknown path: %d, want 404", res.StatusCode)
	}
}

func TestOrchestratorAnswersMethodsLikeTheAPIs(t *testing.T) {
	srv := httptest.NewServer(newTestOrchestrator(panickingCustomers{}, &bytes.Buffer{}))
	defer srv.Close()
	res, body := send(t, srv.URL, http.MethodGet, OrchestratePath, "")
	var env OrchestratorEnvelope
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST, OPTIONS" ||
		json.Unmarshal(body, &env) != nil || env.Error == nil || env.Error.Code != methodNotAllowed {
		t.Errorf("GET %s: %d, Allow %q, body %s", OrchestratePath, res.StatusCode, res.Header.Get("Allow"), body)
	}
	if res, _ := send(t, srv.URL, http.MethodOptions, OrchestrateAliasPath, ""); res.StatusCode != http.StatusNoContent || res.Header.Get("Allow") != "POST, OPTIONS" {
		t.Errorf("OPTIONS %s: %d, Allow %q", OrchestrateAliasPath, res.StatusCode, res.Header.Get("Allow"))
	}
	if res, body := send(t, srv.URL, http.MethodHead, "/health", ""); res.StatusCode != http.StatusOK || len(body) != 0 {
		t.Errorf("HEAD /health: %d, body %q", res.StatusCode, body)
	}
}
