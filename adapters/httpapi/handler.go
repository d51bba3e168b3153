// Package httpapi is the HTTP side of every service: a gorilla/mux router
// with the middleware all three share (request ids, access logs, metrics,
// panic recovery, strict JSON, bearer auth, the operational endpoints), each
// service's error shape (problem+json for the APIs, an envelope for the
// orchestrator), and the handlers that translate between the wire and the
// core use cases.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/page"
)

// Routes is one area's endpoints.
type Routes interface {
	Register(r *mux.Router, auth *Auth)
}

// Ops are the open operational endpoints of a service.
type Ops struct {
	// Ready reports whether the service can do its work; /ready answers 503
	// while it returns an error. An error with a domain code is answered as
	// it is; any other is dependency_unavailable.
	Ready func(context.Context) error
	// Registry gathers the service's metrics; the HTTP metrics join it.
	Registry *prometheus.Registry
	// OpenAPI is the document served at /openapi.yaml.
	OpenAPI []byte
	// Traces makes the service's spans; nil makes none (trace context is
	// still passed on).
	Traces trace.TracerProvider
}

// readyTimeout bounds a readiness probe so a hung dependency shows as down.
const readyTimeout = 2 * time.Second

// NewHandler builds an API's whole HTTP handler.
func NewHandler(log *slog.Logger, ops Ops, auth *Auth, routes ...Routes) http.Handler {
	return newService(log, ops, apiConventions, func(r *mux.Router) {
		for _, rt := range routes {
			rt.Register(r, auth)
		}
	})
}

// newService is the stack every service runs: the shared middleware around
// a router holding the open operational endpoints (/health, /ready,
// /metrics, /openapi.yaml), the routes register adds, and answers for
// unknown paths and methods (405 with Allow; HEAD and OPTIONS as methods
// serves them), behind a refusal of bodies framed by Transfer-Encoding.
// Every failure is answered by conv.WriteError.
func newService(log *slog.Logger, ops Ops, conv conventions, register func(*mux.Router)) http.Handler {
	fail := conv.WriteError
	r := mux.NewRouter()
	r.Use(recordRoute)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail(w, r, errs.New(errs.NotFound, "no such endpoint: %s", r.URL.Path))
	})
	r.MethodNotAllowedHandler = methodNotAllowedHandler(r, fail)

	r.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		respond(w, http.StatusOK, map[string]string{"status": "ok"})
	}).Methods(http.MethodGet)
	r.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := ops.Ready(ctx); err != nil {
			var e *errs.Error
			if !errors.As(err, &e) {
				err = fmt.Errorf("%w: %v", errs.New(errs.DependencyUnavailable, "a dependency does not answer"), err)
			}
			fail(w, r, err)
			return
		}
		respond(w, http.StatusOK, map[string]string{"status": "ready"})
	}).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(ops.Registry, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	r.HandleFunc("/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		writeBody(w, http.StatusOK, "application/yaml", ops.OpenAPI)
	}).Methods(http.MethodGet)

	register(r)
	return traced(ops.Traces, observe(log, NewMetrics(ops.Registry), conv, requireContentLength(fail, methods(r))))
}

// handlerFunc is an endpoint that reports failure by returning it; the
// failure is answered as a problem in one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		writeError(w, r, err)
	}
}

// pathID reads the {id} path variable. An id that is not a UUID names no
// resource, so it is answered like an unknown one.
func pathID(r *http.Request, what string) (uuid.UUID, error) {
	raw := mux.Vars(r)["id"]
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, errs.New(errs.NotFound, "%s %s not found", what, raw)
	}
	return id, nil
}

// pageRequest reads limit and cursor from the query string; the cursor
// must be one cursors issued.
func pageRequest(r *http.Request, cursors page.Codec, fields *errs.Fields) page.Request {
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n == 0 {
			// Zero would mean "the default" to the core; on the wire it is out of range.
			fields.Add("limit", "must be a whole number from 1 to %d", page.MaxLimit)
			n = page.DefaultLimit
		}
		limit = n
	}
	req, err := cursors.NewRequest(limit, q.Get("cursor"))
	if e, ok := err.(*errs.Error); ok {
		*fields = append(*fields, e.Fields...)
	}
	return req
}

// PageJSON is the "page" object of every list response.
type PageJSON struct {
	NextCursor *string `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
	Limit      int     `json:"limit"`
}

// ListJSON is the body of every list response.
type ListJSON[T any] struct {
	Data []T      `json:"data"`
	Page PageJSON `json:"page"`
}

func listJSON[In, Out any](cursors page.Codec, p page.Page[In], conv func(In) Out) ListJSON[Out] {
	out := ListJSON[Out]{Data: make([]Out, len(p.Items)), Page: PageJSON{HasMore: p.HasMore, Limit: p.Limit}}
	for i, v := range p.Items {
		out.Data[i] = conv(v)
	}
	if p.Next != nil {
		c := cursors.Encode(*p.Next)
		out.Page.NextCursor = &c
	}
	return out
}

func timeJSON(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
