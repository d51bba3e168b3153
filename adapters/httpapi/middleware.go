package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/b2borders/platform/adapters/tracing"
	"github.com/b2borders/platform/core/correlation"
	"github.com/b2borders/platform/core/errs"
)

type ctxKey int

const (
	exchangeKey ctxKey = iota
	principalKey
)

// exchange is what the outer middleware shares with everything below it
// about one request: the route template that matched, set by the router,
// and the request id in effect, which a handler may replace with one it
// learns from the body (the orchestrator's correlation_id). Unmatched
// requests keep the route "unmatched", so that a scan of random paths
// cannot blow up the metrics' label space.
type exchange struct {
	route string
	id    string
	// idHeaders are the response headers that carry the id.
	idHeaders []string
}

func exchangeOf(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey).(*exchange)
	return x
}

// RequestID returns the id of the request being served, which is also the
// correlation id outgoing calls forward.
func RequestID(ctx context.Context) string {
	if x := exchangeOf(ctx); x != nil {
		return x.id
	}
	return correlation.ID(ctx)
}

// adoptRequestID makes id the request id in effect from here on: in the
// access log, in the response headers and in error bodies, and in the
// returned request's context, which outgoing calls forward. The caller
// vouches for id; it must not have written the response yet.
func adoptRequestID(w http.ResponseWriter, r *http.Request, id string) *http.Request {
	if x := exchangeOf(r.Context()); x != nil {
		x.id = id
		for _, h := range x.idHeaders {
			w.Header().Set(h, id)
		}
	}
	return r.WithContext(correlation.WithID(r.Context(), id))
}

// recordRoute runs inside the router, where the matched route is known: it
// names the request's span by it ("GET /orders/{id}") and hands it to the
// access log and the metrics.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if route := mux.CurrentRoute(r); route != nil {
			if t, err := route.GetPathTemplate(); err == nil {
				if x := exchangeOf(r.Context()); x != nil {
					x.route = t
				}
				if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
					span.SetName(r.Method + " " + t)
					span.SetAttributes(semconv.HTTPRoute(t))
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// requestIDKey is the span attribute that carries the request id, so that
// a trace can be found from the id a client was given.
const requestIDKey = attribute.Key("app.request_id")

// traced is the outermost layer: one server span per request, its parent
// the traceparent the caller sent (W3C trace context, always read), named
// by the route once the router has matched one. Everything below,
// the access log included, runs inside the span. The open operational
// endpoints (probes, scrapes, the OpenAPI document) get no span: they would
// bury the traces of real work. With tp nil or the no-op provider nothing
// of otelhttp runs: the caller's trace context is read, when it sent one,
// and passed on as it came.
func traced(tp trace.TracerProvider, next http.Handler) http.Handler {
	if !tracing.Enabled(tp) {
		// Nothing to record: only keep the caller's trace context for the
		// calls this request makes.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Canonical keys: Header.Get would allocate to canonicalize.
			if len(r.Header["Traceparent"]) > 0 || len(r.Header["Baggage"]) > 0 {
				r = r.WithContext(tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
			}
			next.ServeHTTP(w, r)
		})
	}
	return otelhttp.NewHandler(next, "",
		otelhttp.WithTracerProvider(tracing.Provider(tp)),
		otelhttp.WithPropagators(tracing.Propagator),
		// The HTTP metrics are Prometheus's (Metrics); otelhttp's own stay off.
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool { return !opsPaths[r.URL.Path] }),
	)
}

// opsPaths are the open operational endpoints every service serves.
var opsPaths = map[string]bool{"/health": true, "/ready": true, "/metrics": true, "/openapi.yaml": true}

// statusRecorder remembers what a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Metrics are the request counters and latencies of one service.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers the HTTP metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by method and route template.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// errorWriter answers a failed request in its service's own shape:
// problem+json for the APIs, the envelope for the orchestrator. Errors that
// carry no domain code are the writer's to log, once, and to answer as a
// bare internal error.
type errorWriter func(w http.ResponseWriter, r *http.Request, err error)

// conventions are what differs between the services in the one stack of
// middleware they share.
type conventions struct {
	// IDHeaders are the request headers a request id is taken from, the
	// first valid one winning; a request without one gets a new UUID. The
	// response carries the id in effect in each of them.
	IDHeaders []string
	// WriteError answers unknown paths, wrong methods, failed readiness
	// probes, panics and the service's own failures.
	WriteError errorWriter
}

// apiConventions are the APIs': X-Request-ID first, errors as problem+json.
var apiConventions = conventions{
	IDHeaders:  []string{"X-Request-ID", "X-Correlation-ID"},
	WriteError: writeError,
}

// observe is the outermost middleware: it assigns the request id, recovers
// panics, and logs and measures every request once it is done.
func observe(log *slog.Logger, m *Metrics, conv conventions, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		x := &exchange{route: "unmatched", idHeaders: conv.IDHeaders}
		for _, h := range conv.IDHeaders {
			if id := r.Header.Get(h); correlation.Valid(id) {
				x.id = id
				break
			}
		}
		if x.id == "" {
			x.id = uuid.NewString()
		}
		for _, h := range conv.IDHeaders {
			w.Header().Set(h, x.id)
		}
		ctx := context.WithValue(correlation.WithID(r.Context(), x.id), exchangeKey, x)
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w}

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(ctx, "panic", "request_id", x.id, "panic", fmt.Sprint(p))
				if rec.status == 0 {
					conv.WriteError(rec, r, errs.New(errs.Internal, "internal error"))
				}
			}
			elapsed := time.Since(start)
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
				span.SetAttributes(requestIDKey.String(x.id))
			}
			m.requests.WithLabelValues(r.Method, x.route, strconv.Itoa(status)).Inc()
			m.duration.WithLabelValues(r.Method, x.route).Observe(elapsed.Seconds())
			log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("request_id", x.id),
				slog.String("method", r.Method),
				slog.String("route", x.route),
				slog.Int("status", status),
				slog.Int("bytes", rec.bytes),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			)
		}()
		next.ServeHTTP(rec, r)
	})
}
