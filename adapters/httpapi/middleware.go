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

	"github.com/b2borders/platform/core/correlation"
	"github.com/b2borders/platform/core/errs"
)

type ctxKey int

const (
	routeKey ctxKey = iota
	principalKey
)

// RequestID returns the id of the request being served, which is also the
// correlation id outgoing calls forward.
func RequestID(ctx context.Context) string {
	return correlation.ID(ctx)
}

// routeSlot lets the router, which runs inside the outer middleware, tell it
// which route template matched; unmatched requests keep "unmatched", so that
// a scan of random paths cannot blow up the metrics' label space.
type routeSlot struct{ template string }

func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slot, ok := r.Context().Value(routeKey).(*routeSlot); ok {
			if route := mux.CurrentRoute(r); route != nil {
				if t, err := route.GetPathTemplate(); err == nil {
					slot.template = t
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

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

// observe is the outermost middleware: it assigns the request id, recovers
// panics, and logs and measures every request once it is done.
func observe(log *slog.Logger, m *Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !correlation.Valid(id) {
			id = r.Header.Get("X-Correlation-ID")
		}
		if !correlation.Valid(id) {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-ID", id)
		slot := &routeSlot{template: "unmatched"}
		ctx := context.WithValue(correlation.WithID(r.Context(), id), routeKey, slot)
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w}

		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(ctx, "panic", "request_id", id, "panic", fmt.Sprint(p))
				if rec.status == 0 {
					writeError(rec, r, errs.New(errs.Internal, "internal error"))
				}
			}
			elapsed := time.Since(start)
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			m.requests.WithLabelValues(r.Method, slot.template, strconv.Itoa(status)).Inc()
			m.duration.WithLabelValues(r.Method, slot.template).Observe(elapsed.Seconds())
			log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("request_id", id),
				slog.String("method", r.Method),
				slog.String("route", slot.template),
				slog.Int("status", status),
				slog.Int("bytes", rec.bytes),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			)
		}()
		next.ServeHTTP(rec, r)
	})
}
