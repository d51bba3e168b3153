package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/b2borders/platform/adapters/tracing"
)

// A line logged inside a span names the span's trace and id, through
// loggers derived with With too; a line outside one names neither.
func TestLogHandlerStampsTraceAndSpanIDs(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(tracing.NewLogHandler(slog.NewJSONHandler(&out, nil))).With("service", "orders-api")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))

	log.InfoContext(ctx, "request", "request_id", "r-1")
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["trace_id"] != tid.String() || line["span_id"] != sid.String() || line["request_id"] != "r-1" || line["service"] != "orders-api" {
		t.Fatalf("line %v: want trace_id, span_id, request_id and service", line)
	}

	out.Reset()
	log.InfoContext(context.Background(), "started")
	line = nil
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if _, ok := line["trace_id"]; ok {
		t.Fatalf("line %v outside a span names a trace", line)
	}
}
