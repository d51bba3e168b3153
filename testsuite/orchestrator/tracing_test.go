package orchestrator_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	wire "github.com/b2borders/platform/apps/wire/orchestrator"
	"github.com/b2borders/platform/apps/wire/shell"
	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/dbtest"
)

// logBuffer collects the JSON log lines of several services.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns every line logged so far, decoded.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// tracedStack is the three real shells in this process, each tracing as
// its TracingConfig says and logging JSON lines, as it does in production,
// into one buffer.
type tracedStack struct {
	orchestrator *apptest.Client
	customers    *apptest.Client
	orders       *apptest.Client
	// apps in the order they stop: the orchestrator first.
	apps []*fx.App
	logs *logBuffer
}

func bootTraced(t *testing.T, tracing func(service string) shell.TracingConfig) *tracedStack {
	t.Helper()
	logs := &logBuffer{}
	log := shell.JSONLogger(logs, slog.LevelInfo)
	token := apptest.OperatorToken(t)
	customers := apptest.StartCustomersWith(t, apptest.Observed{Log: log, Tracing: tracing("customers-api")})
	orders := apptest.StartOrders(t, apptest.OrdersOptions{
		DSN: dbtest.NewDatabase(t), CustomersURL: customers.URL,
		Observed: apptest.Observed{Log: log, Tracing: tracing("orders-api")},
	})
	url, app := apptest.Boot(t, wire.Module(wire.Config{
		CustomersURL: customers.URL, OrdersURL: orders.URL, Auth: apptest.Auth, Tracing: tracing("orchestrator"),
	}, log))
	return &tracedStack{
		orchestrator: &apptest.Client{Base: url, Token: token},
		customers:    &apptest.Client{Base: customers.URL, Token: token},
		orders:       &apptest.Client{Base: orders.URL, Token: token},
		apps:         []*fx.App{app, orders.App, customers.App},
		logs:         logs,
	}
}

// checkout registers a customer and a product, then places and confirms
// an order of it through the orchestrator, sending header pairs; it
// returns the order's id and the correlation id.
func (s *tracedStack) checkout(t *testing.T, header ...string) (orderID, correlationID string) {
	t.Helper()
	var c, p struct {
		ID string `json:"id"`
	}
	s.customers.Do(t, http.MethodPost, "/customers", map[string]any{
		"name": "Traced", "email": fmt.Sprintf("traced-%d@example.com", time.Now().UnixNano()),
	}).Want(t, http.StatusCreated).JSON(t, &c)
	s.orders.Do(t, http.MethodPost, "/products", map[string]any{
		"sku": fmt.Sprintf("TRACED-%d", time.Now().UnixNano()), "name": "Traced", "price_cents": 500, "stock": 5,
	}).Want(t, http.StatusCreated).JSON(t, &p)
	e := ok(t, s.orchestrator.Do(t, http.MethodPost, route,
		request(c.ID, fmt.Sprintf("traced-%d", time.Now().UnixNano()), line(p.ID, 2)), header...))
	return e.Data.Order.ID, e.CorrelationID
}

// stop stops every service, which flushes what each one batched.
func (s *tracedStack) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, app := range s.apps {
		if err := app.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// inMemory gives each service an SDK that records into one exporter, with
// the service's own name.
func inMemory(exp *tracetest.InMemoryExporter) func(string) shell.TracingConfig {
	return func(service string) shell.TracingConfig {
		return shell.TracingConfig{ServiceName: service, SpanExporter: exp}
	}
}

// span is a recorded span, by the service that made it.
type span = apptest.Span

func spansOf(stubs tracetest.SpanStubs) []span {
	out := make([]span, len(stubs))
	for i, st := range stubs {
		svc, _ := st.Resource.Set().Value(semconv.ServiceNameKey)
		out[i] = span{Service: svc.AsString(), SpanStub: st}
	}
	return out
}

// want is a span the trace must hold, "service name", under its parent.
type want struct{ span, parent string }

// checkoutTrace is what one create-and-confirm must show: the orchestrator's
// request, its three calls, the requests they are in customers-api and
// orders-api, orders-api's own call to customers-api, and the database
// transactions of each.
var checkoutTrace = []want{
	{"orchestrator CLIENT GET /internal/customers/{id}", "orchestrator SERVER POST /orchestrator/create-and-confirm-order"},
	{"customers-api SERVER GET /internal/customers/{id}", "orchestrator CLIENT GET /internal/customers/{id}"},
	{"customers-api CLIENT db get customer", "customers-api SERVER GET /internal/customers/{id}"},
	{"orchestrator CLIENT POST /orders", "orchestrator SERVER POST /orchestrator/create-and-confirm-order"},
	{"orders-api SERVER POST /orders", "orchestrator CLIENT POST /orders"},
	{"orders-api CLIENT GET /internal/customers/{id}", "orders-api SERVER POST /orders"},
	{"customers-api SERVER GET /internal/customers/{id}", "orders-api CLIENT GET /internal/customers/{id}"},
	{"orders-api CLIENT db place order", "orders-api SERVER POST /orders"},
	{"orchestrator CLIENT POST /orders/{id}/confirm", "orchestrator SERVER POST /orchestrator/create-and-confirm-order"},
	{"orders-api SERVER POST /orders/{id}/confirm", "orchestrator CLIENT POST /orders/{id}/confirm"},
	{"orders-api CLIENT db confirm order", "orders-api SERVER POST /orders/{id}/confirm"},
}

func describe(s span) string {
	kind := map[trace.SpanKind]string{trace.SpanKindServer: "SERVER", trace.SpanKindClient: "CLIENT"}[s.SpanKind]
	if kind == "" {
		kind = s.SpanKind.String()
	}
	return s.Service + " " + kind + " " + s.Name
}

// traceOf returns the spans of the trace whose root is the orchestrator's
// request, once every span checkoutTrace names has ended.
func traceOf(t *testing.T, spans func() []span) (root span, all []span) {
	t.Helper()
	const rootName = "orchestrator SERVER POST /orchestrator/create-and-confirm-order"
	var missing []want
	for deadline := time.Now().Add(30 * time.Second); ; {
		all, missing = nil, nil
		found := false
		for _, s := range spans() {
			if describe(s) == rootName {
				root, found = s, true
			}
		}
		if found {
			for _, s := range spans() {
				if s.SpanContext.TraceID() == root.SpanContext.TraceID() {
					all = append(all, s)
				}
			}
			missing = missingLinks(all)
			if len(missing) == 0 {
				return root, all
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trace of the checkout lacks %v (root found: %v); it holds %v", missing, found, all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// missingLinks returns the wants that no span of trace satisfies.
func missingLinks(spans []span) []want {
	byID := map[trace.SpanID]span{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	var missing []want
	for _, w := range checkoutTrace {
		ok := false
		for _, s := range spans {
			if p, has := byID[s.Parent.SpanID()]; has && describe(s) == w.span && describe(p) == w.parent {
				ok = true
			}
		}
		if !ok {
			missing = append(missing, w)
		}
	}
	return missing
}

// checkWhole fails unless every span of the trace but the root has its
// parent in the trace, and the root's parent is parent (invalid: none).
func checkWhole(t *testing.T, root span, all []span, parent trace.SpanContext) {
	t.Helper()
	ids := map[trace.SpanID]bool{}
	services := map[string]bool{}
	for _, s := range all {
		ids[s.SpanContext.SpanID()] = true
		services[s.Service] = true
	}
	for _, s := range all {
		if s.SpanContext.SpanID() != root.SpanContext.SpanID() && !ids[s.Parent.SpanID()] {
			t.Errorf("span %s has parent %s, which is not in the trace", describe(s), s.Parent.SpanID())
		}
	}
	if !root.Parent.Equal(parent) {
		t.Errorf("the root's parent is %v, want %v", root.Parent, parent)
	}
	for _, svc := range []string{"orchestrator", "customers-api", "orders-api"} {
		if !services[svc] {
			t.Errorf("no span of %s in the trace", svc)
		}
	}
}

func TestCheckoutIsOneTraceAcrossTheThreeServices(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	s := bootTraced(t, inMemory(exp))
	orderID, correlationID := s.checkout(t)
	root, all := traceOf(t, func() []span { return spansOf(exp.GetSpans()) })
	checkWhole(t, root, all, trace.SpanContext{})

	// Database spans are named by the kind of transaction; ids go to
	// attributes.
	for _, sp := range all {
		if strings.Contains(sp.Name, orderID) {
			t.Errorf("span %q names the order id", sp.Name)
		}
		if sp.Name == "db place order" || sp.Name == "db confirm order" {
			if sp.Attr("db.system.name") != "mysql" || sp.Attr("app.order_id") != orderID {
				t.Errorf("%s: db.system.name %q, app.order_id %q; want mysql, %s",
					sp.Name, sp.Attr("db.system.name"), sp.Attr("app.order_id"), orderID)
			}
		}
	}
	if got := root.Attr("app.request_id"); got != correlationID {
		t.Errorf("the root span's app.request_id is %q, want the correlation id %q", got, correlationID)
	}

	// Every line the three services logged for this checkout, which all
	// carry its correlation id as request_id, names the trace and a span
	// of it; each service logged its request.
	spanIDs := map[string]bool{}
	for _, sp := range all {
		spanIDs[sp.SpanContext.SpanID().String()] = true
	}
	traceID := root.SpanContext.TraceID().String()
	logged := map[string]int{}
	for deadline := time.Now().Add(30 * time.Second); len(logged) < 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("request lines of the checkout by service: %v; want all three", logged)
		}
		logged = map[string]int{}
		for _, l := range s.logs.lines(t) {
			if l["request_id"] != correlationID {
				continue
			}
			if l["trace_id"] != traceID || !spanIDs[fmt.Sprint(l["span_id"])] {
				t.Fatalf("log line %v: want trace_id %s and the span_id of one of its spans", l, traceID)
			}
			if l["msg"] == "request" {
				logged[fmt.Sprint(l["service"])]++
			}
		}
	}
}

func TestClientTraceparentBecomesTheParent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	s := bootTraced(t, inMemory(exp))
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
	)
	s.checkout(t, "traceparent", "00-"+traceID+"-"+spanID+"-01", "tracestate", "vendor=client")
	root, all := traceOf(t, func() []span { return spansOf(exp.GetSpans()) })
	tid, _ := trace.TraceIDFromHex(traceID)
	sid, _ := trace.SpanIDFromHex(spanID)
	ts, _ := trace.ParseTraceState("vendor=client")
	checkWhole(t, root, all, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	}))
	// tracestate travels every hop with traceparent.
	for _, sp := range all {
		if got := sp.SpanContext.TraceState().String(); got != "vendor=client" {
			t.Errorf("%s has tracestate %q, want vendor=client", describe(sp), got)
		}
	}
}

// A service that exports nothing still passes the caller's trace context
// on: the services behind it join the caller's trace.
func TestAServiceThatTracesNothingPassesTheTraceOn(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	s := bootTraced(t, func(service string) shell.TracingConfig {
		if service == "orchestrator" {
			return shell.TracingConfig{ServiceName: service}
		}
		return inMemory(exp)(service)
	})
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	s.checkout(t, "traceparent", traceparent)
	want := map[string]bool{"customers-api SERVER GET /internal/customers/{id}": true, "orders-api SERVER POST /orders": true, "orders-api SERVER POST /orders/{id}/confirm": true}
	for deadline := time.Now().Add(30 * time.Second); len(want) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no span of %v under the client's traceparent", want)
		}
		for _, sp := range spansOf(exp.GetSpans()) {
			if sp.Service == "orchestrator" {
				t.Fatalf("the orchestrator, which traces nothing, recorded %s", describe(sp))
			}
			if sp.Parent.TraceID().String() == "0af7651916cd43dd8448eb211c80319c" && sp.Parent.SpanID().String() == "b7ad6b7169203331" {
				delete(want, describe(sp))
			}
		}
	}
}

// With nothing but OTEL_EXPORTER_OTLP_ENDPOINT set, each service sends its
// spans to that collector over OTLP/HTTP, and the checkout arrives there as
// one trace across the three.
func TestOTLPEndpointReceivesTheCheckoutAsOneTrace(t *testing.T) {
	rcv := apptest.NewOTLPReceiver(t)
	s := bootTraced(t, func(service string) shell.TracingConfig {
		env := shell.MapEnv(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL})
		cfg := shell.LoadTracing(env, service)
		if err := env.Err(); err != nil {
			t.Fatal(err)
		}
		return cfg
	})
	orderID, _ := s.checkout(t)
	// Stopping a service exports what it still holds in its batch.
	s.stop(t)
	root, all := traceOf(t, rcv.Spans)
	checkWhole(t, root, all, trace.SpanContext{})
	for _, sp := range all {
		if sp.Name == "db place order" && sp.Attr("app.order_id") != orderID {
			t.Errorf("db place order has app.order_id %q, want %s", sp.Attr("app.order_id"), orderID)
		}
	}
}
