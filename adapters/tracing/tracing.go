// Package tracing is what the adapters share about OpenTelemetry traces:
// the W3C propagator every hop reads and writes, the tracer they name
// their spans with, and a log handler that stamps each line written inside
// a span with its trace and span ids. It depends on the OpenTelemetry API
// only; the SDK and its exporters are the shells' (apps/wire/shell).
package tracing

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName names the instrumentation scope of the platform's own spans.
const ScopeName = "github.com/b2borders/platform/adapters"

// Propagator reads and writes W3C trace context (traceparent, tracestate)
// and baggage. It is always on, whether or not the service exports spans:
// with tracing off a service starts no spans of its own and passes the
// caller's traceparent on unchanged, so a trace stays whole across it.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(
	propagation.TraceContext{}, propagation.Baggage{},
)

// Provider returns tp, or the no-op provider when tp is nil: an adapter
// built without tracing costs nothing.
func Provider(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return noop.NewTracerProvider()
	}
	return tp
}

// Enabled reports whether tp records anything: it is neither nil nor the
// no-op provider. Where it does not, the adapters skip their
// instrumentation and only pass the trace context on.
func Enabled(tp trace.TracerProvider) bool {
	if tp == nil {
		return false
	}
	_, off := tp.(noop.TracerProvider)
	return !off
}

// Tracer is the platform's tracer from tp (nil: no-op).
func Tracer(tp trace.TracerProvider) trace.Tracer {
	return Provider(tp).Tracer(ScopeName)
}

// LogHandler adds trace_id and span_id to every record logged with a
// context that carries a valid span context: every line written inside a
// request joins that request's trace.
type LogHandler struct {
	slog.Handler
}

// NewLogHandler wraps h.
func NewLogHandler(h slog.Handler) *LogHandler { return &LogHandler{Handler: h} }

// Handle stamps the record with the span's ids, then hands it on.
func (h *LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(
			slog.String("trace_id", sc.TraceID().String()),
			slog.String("span_id", sc.SpanID().String()),
		)
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the stamping on loggers derived with With.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &LogHandler{Handler: h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the stamping on loggers derived with WithGroup. The ids
// then land inside the group; the platform's loggers use no groups.
func (h *LogHandler) WithGroup(name string) slog.Handler {
	return &LogHandler{Handler: h.Handler.WithGroup(name)}
}
