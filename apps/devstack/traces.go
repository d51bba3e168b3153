package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// tracePrinter is the dev stack's console exporter: it gathers the spans
// of the three services and, once a trace has been quiet for quiet,
// prints it as a tree, one line per span: when it started after the
// trace's first span, how long it took, the service and the span's name.
type tracePrinter struct {
	w     io.Writer
	quiet time.Duration

	mu     sync.Mutex
	traces map[trace.TraceID]*pendingTrace
}

type pendingTrace struct {
	spans []sdktrace.ReadOnlySpan
	timer *time.Timer
}

func newTracePrinter(w io.Writer, quiet time.Duration) *tracePrinter {
	return &tracePrinter{w: w, quiet: quiet, traces: map[trace.TraceID]*pendingTrace{}}
}

var _ sdktrace.SpanExporter = (*tracePrinter)(nil)

// ExportSpans keeps the spans until their trace is quiet.
func (p *tracePrinter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range spans {
		id := s.SpanContext().TraceID()
		t := p.traces[id]
		if t == nil {
			t = &pendingTrace{}
			t.timer = time.AfterFunc(p.quiet, func() { p.flush(id) })
			p.traces[id] = t
		} else {
			t.timer.Reset(p.quiet)
		}
		t.spans = append(t.spans, s)
	}
	return nil
}

// Shutdown prints what is still pending.
func (p *tracePrinter) Shutdown(context.Context) error {
	p.mu.Lock()
	ids := make([]trace.TraceID, 0, len(p.traces))
	for id, t := range p.traces {
		t.timer.Stop()
		ids = append(ids, id)
	}
	p.mu.Unlock()
	for _, id := range ids {
		p.flush(id)
	}
	return nil
}

func (p *tracePrinter) flush(id trace.TraceID) {
	p.mu.Lock()
	t := p.traces[id]
	delete(p.traces, id)
	p.mu.Unlock()
	if t != nil {
		io.WriteString(p.w, renderTrace(id, t.spans))
	}
}

// renderTrace draws one trace: spans under their parents, siblings in the
// order they started; a span whose parent is not in the trace (the root,
// or a child of a caller outside the stack) starts a tree of its own.
func renderTrace(id trace.TraceID, spans []sdktrace.ReadOnlySpan) string {
	byID := map[trace.SpanID]bool{}
	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	start, end := spans[0].StartTime(), spans[0].EndTime()
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = true
		if s.StartTime().Before(start) {
			start = s.StartTime()
		}
		if s.EndTime().After(end) {
			end = s.EndTime()
		}
	}
	for _, s := range spans {
		if parent := s.Parent().SpanID(); s.Parent().IsValid() && byID[parent] {
			children[parent] = append(children[parent], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) }
	var b strings.Builder
	fmt.Fprintf(&b, "trace %s: %d spans, %s\n", id, len(spans), ms(end.Sub(start)))
	fmt.Fprintf(&b, "  %9s %9s  %-14s %s\n", "start", "duration", "service", "span")
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		service, _ := s.Resource().Set().Value(semconv.ServiceNameKey)
		mark := ""
		if s.Status().Code.String() == "Error" {
			mark = "  ERROR " + s.Status().Description
		}
		fmt.Fprintf(&b, "  %9s %9s  %-14s %s%s%s\n", ms(s.StartTime().Sub(start)), ms(s.EndTime().Sub(s.StartTime())),
			service.AsString(), strings.Repeat("  ", depth), s.Name(), mark)
		kids := children[s.SpanContext().SpanID()]
		slices.SortFunc(kids, byStart)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	slices.SortFunc(roots, byStart)
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}
