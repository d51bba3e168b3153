package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/b2borders/platform/apps/wire/shell"
)

// A trace from two services prints as one tree, children under their
// parents, each line naming its service.
func TestTracePrinterDrawsATreePerTrace(t *testing.T) {
	var out bytes.Buffer
	p := newTracePrinter(&out, time.Hour)
	provider := func(service string) *sdktrace.TracerProvider {
		return sdktrace.NewTracerProvider(sdktrace.WithSyncer(p),
			sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))))
	}
	orch, orders := provider("orchestrator").Tracer("t"), provider("orders-api").Tracer("t")

	ctx, root := orch.Start(context.Background(), "POST /orchestrator/create-and-confirm-order")
	cctx, call := orch.Start(ctx, "POST /orders", trace.WithSpanKind(trace.SpanKindClient))
	// orders-api continues the trace from the call's context, as the
	// propagated traceparent makes it.
	sctx, serve := orders.Start(trace.ContextWithRemoteSpanContext(context.Background(), trace.SpanContextFromContext(cctx)), "POST /orders")
	_, db := orders.Start(sctx, "db place order")
	db.End()
	serve.End()
	call.End()
	root.End()
	if out.Len() != 0 {
		t.Fatalf("printed before the trace was quiet: %s", out.String())
	}
	p.Shutdown(context.Background())

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"orchestrator   POST /orchestrator/create-and-confirm-order",
		"orchestrator     POST /orders",
		"orders-api         POST /orders",
		"orders-api           db place order",
	}
	if len(lines) != 2+len(want) || !strings.HasPrefix(lines[0], "trace "+root.SpanContext().TraceID().String()+": 4 spans") {
		t.Fatalf("output:\n%s", out.String())
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[2+i], w) {
			t.Errorf("line %d %q, want it to end with %q", 2+i, lines[2+i], w)
		}
	}
}

// OTEL_TRACES_EXPORTER=console makes the dev stack print trees; each
// service keeps its own name whatever OTEL_SERVICE_NAME says.
func TestConsoleTracingPrintsTrees(t *testing.T) {
	cfg := loadConfig(shell.MapEnv(map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "one-name"}))
	if _, ok := cfg.tracing.SpanExporter.(*tracePrinter); !ok {
		t.Fatalf("span exporter %T, want the tree printer", cfg.tracing.SpanExporter)
	}
	if got := cfg.tracingOf("orders-api").ServiceName; got != "orders-api" {
		t.Fatalf("service name %q, want orders-api", got)
	}
}
