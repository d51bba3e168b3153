package awslambda_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/b2borders/platform/adapters/awslambda"
	"github.com/b2borders/platform/adapters/tracing"
)

// Every invocation is a span: the child of the event's traceparent, or a
// root; the handler sees it as its parent; and the spans are flushed
// before the invocation returns.
func TestInvocationIsASpanFlushedBeforeItReturns(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var parentSeen trace.SpanContext
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parentSeen = trace.SpanContextFromContext(tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
		w.WriteHeader(http.StatusCreated)
	})
	var endedAtFlush []int
	fn := awslambda.Handler(h, awslambda.DefaultReserve, awslambda.Tracing{
		Provider: tp,
		Flush: func(context.Context) error {
			endedAtFlush = append(endedAtFlush, len(rec.Ended()))
			return nil
		},
	})
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		AwsRequestID: "req-1", InvokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:orchestrator",
	})

	e := event("", false)
	e.Headers["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if res, err := fn(ctx, e); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("answer %d, %v", res.StatusCode, err)
	}
	if _, err := fn(ctx, event("", false)); err != nil {
		t.Fatal(err)
	}

	spans := rec.Ended()
	if len(spans) != 2 || len(endedAtFlush) != 2 || endedAtFlush[0] != 1 || endedAtFlush[1] != 2 {
		t.Fatalf("%d spans ended, %v of them at each flush: want each invocation's span ended before its flush", len(spans), endedAtFlush)
	}
	first, second := spans[0], spans[1]
	if first.Parent().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || first.Parent().SpanID().String() != "00f067aa0ba902b7" || !first.Parent().IsRemote() {
		t.Errorf("the first invocation's parent is %v, want the event's traceparent", first.Parent())
	}
	if second.Parent().IsValid() {
		t.Errorf("an event without traceparent: parent %v, want a root span", second.Parent())
	}
	if first.SpanKind() != trace.SpanKindServer {
		t.Errorf("kind %v, want server", first.SpanKind())
	}
	attrs := map[string]string{}
	for _, kv := range first.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["faas.invocation_id"] != "req-1" || attrs["faas.trigger"] != "http" || attrs["faas.coldstart"] != "true" {
		t.Errorf("attributes %v: want the invocation id, the http trigger and a cold start", attrs)
	}
	// The handler's parent is the invocation's span, not the caller's.
	if parentSeen.SpanID() != second.SpanContext().SpanID() {
		t.Errorf("the handler saw parent %v, want the invocation span %v", parentSeen.SpanID(), second.SpanContext().SpanID())
	}
}

// The flush has half of the time kept back from the handler: a collector
// that does not answer costs the invocation its spans, never its answer.
func TestFlushEndsBeforeTheInvocationsDeadline(t *testing.T) {
	var handlerDeadline, flushDeadline time.Time
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlerDeadline, _ = r.Context().Deadline()
	})
	fn := awslambda.Handler(h, 400*time.Millisecond, awslambda.Tracing{
		Provider: sdktrace.NewTracerProvider(),
		Flush: func(ctx context.Context) error {
			flushDeadline, _ = ctx.Deadline()
			return nil
		},
	})
	deadline := time.Now().Add(10 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if _, err := fn(ctx, event("", false)); err != nil {
		t.Fatal(err)
	}
	if !handlerDeadline.Equal(deadline.Add(-400*time.Millisecond)) || !flushDeadline.Equal(deadline.Add(-200*time.Millisecond)) {
		t.Fatalf("handler deadline %v, flush deadline %v; want 400ms and 200ms before the invocation's %v", handlerDeadline, flushDeadline, deadline)
	}
}
