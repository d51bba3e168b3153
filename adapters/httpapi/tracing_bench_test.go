package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/b2borders/platform/adapters/tracing"
)

// discardExporter takes batches and drops them: what the SDK costs the
// service, without a collector's.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkTracedRequest is what tracing adds to one request: the server
// span layer, the route naming inside the router, and one child span, as
// a database read makes, around a handler that writes a small body. "off"
// is the no-op provider, "on" the SDK sampling every request and batching
// to an exporter that drops the spans; "before" has no tracing layer at
// all, as before tracing was added. Each runs on a request without and
// with a traceparent.
func BenchmarkTracedRequest(b *testing.B) {
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}))
	b.Cleanup(func() { sdk.Shutdown(context.Background()) })
	for _, bc := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"before", nil},
		{"off", noop.NewTracerProvider()},
		{"on", sdk},
	} {
		for _, traceparent := range []string{"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
			name := bc.name
			if traceparent != "" {
				name += "/traceparent"
			}
			b.Run(name, func(b *testing.B) {
				tracer := tracing.Tracer(bc.tp)
				r := mux.NewRouter()
				r.Use(recordRoute)
				r.HandleFunc("/products/{id}", func(w http.ResponseWriter, r *http.Request) {
					if tracing.Enabled(bc.tp) {
						_, span := tracer.Start(r.Context(), "db get product")
						span.End()
					}
					w.Write([]byte(`{"id":"x"}`))
				})
				h := http.Handler(r)
				if bc.tp != nil {
					h = traced(bc.tp, r)
				}
				req := httptest.NewRequest(http.MethodGet, "/products/0192f3a0-7c1a-7d2e-8b3c-4d5e6f710001", nil)
				if traceparent != "" {
					req.Header.Set("traceparent", traceparent)
				}
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(httptest.NewRecorder(), req)
				}
			})
		}
	}
}
