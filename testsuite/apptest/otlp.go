package apptest

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is a span a test saw, with the service.name of its resource.
type Span struct {
	Service string
	tracetest.SpanStub
}

// Attr returns the attribute key's value as text, or "".
func (s Span) Attr(key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// OTLPReceiver is an OTLP/HTTP collector's traces endpoint: it decodes
// every ExportTraceServiceRequest posted to /v1/traces.
type OTLPReceiver struct {
	URL string

	mu    sync.Mutex
	spans []Span
}

func NewOTLPReceiver(t testing.TB) *OTLPReceiver {
	t.Helper()
	rcv := &OTLPReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP receiver: %s %s (%s), want POST /v1/traces of application/x-protobuf", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "not an OTLP/HTTP traces export", http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		b, err := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &req)
		}
		if err != nil {
			t.Errorf("OTLP receiver: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.add(&req)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	rcv.URL = srv.URL
	return rcv
}

var otlpKinds = map[tracepb.Span_SpanKind]trace.SpanKind{
	tracepb.Span_SPAN_KIND_SERVER:   trace.SpanKindServer,
	tracepb.Span_SPAN_KIND_CLIENT:   trace.SpanKindClient,
	tracepb.Span_SPAN_KIND_INTERNAL: trace.SpanKindInternal,
}

// add keeps the spans of req in the in-memory exporter's shape.
func (rcv *OTLPReceiver) add(req *coltracepb.ExportTraceServiceRequest) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, kv := range rs.Resource.GetAttributes() {
			if kv.Key == string(semconv.ServiceNameKey) {
				service = kv.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				var tid trace.TraceID
				var sid, pid trace.SpanID
				copy(tid[:], s.TraceId)
				copy(sid[:], s.SpanId)
				copy(pid[:], s.ParentSpanId)
				stub := tracetest.SpanStub{
					Name:        s.Name,
					SpanKind:    otlpKinds[s.Kind],
					SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}),
				}
				if pid.IsValid() {
					stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: pid})
				}
				for _, kv := range s.Attributes {
					stub.Attributes = append(stub.Attributes, attribute.String(kv.Key, fmt.Sprint(otlpValue(kv.Value))))
				}
				rcv.spans = append(rcv.spans, Span{Service: service, SpanStub: stub})
			}
		}
	}
}

func otlpValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	}
	return v.String()
}

// Spans returns the spans received so far.
func (rcv *OTLPReceiver) Spans() []Span {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return append([]Span(nil), rcv.spans...)
}
