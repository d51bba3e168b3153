package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/fx/fxtest"
)

// The standard variables decide whether and where spans go; nothing is
// exported unless asked for.
func TestLoadTracingReadsTheStandardVariables(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want TracingConfig
	}{
		{"nothing set", nil, TracingConfig{ServiceName: "orders-api", Exporter: ExportNone}},
		{"service name", map[string]string{"OTEL_SERVICE_NAME": "orders-eu"},
			TracingConfig{ServiceName: "orders-eu", Exporter: ExportNone}},
		{"base endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
			TracingConfig{ServiceName: "orders-api", Exporter: ExportOTLP, OTLPEndpoint: "http://collector:4318/v1/traces"}},
		{"traces endpoint, taken as it is", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example.com/ingest"},
			TracingConfig{ServiceName: "orders-api", Exporter: ExportOTLP, OTLPEndpoint: "https://traces.example.com/ingest"}},
		{"otlp without endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			TracingConfig{ServiceName: "orders-api", Exporter: ExportOTLP, OTLPEndpoint: DefaultOTLPEndpoint}},
		{"none wins over an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			TracingConfig{ServiceName: "orders-api", Exporter: ExportNone}},
		{"console", map[string]string{"OTEL_TRACES_EXPORTER": "console"},
			TracingConfig{ServiceName: "orders-api", Exporter: ExportConsole}},
		{"SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"},
			TracingConfig{ServiceName: "orders-api", Exporter: ExportNone}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := MapEnv(tc.env)
			got := LoadTracing(env, "orders-api")
			if err := env.Err(); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLoadTracingRefusesWhatItCannotDo(t *testing.T) {
	env := MapEnv(map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"})
	LoadTracing(env, "orchestrator")
	env2 := MapEnv(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"})
	LoadTracing(env2, "orchestrator")
	for _, tc := range []struct {
		env  *Env
		want string
	}{
		{env, `config: OTEL_TRACES_EXPORTER must be one of otlp, console, none, not "zipkin"`},
		{env2, "config: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL must be http/protobuf, the only OTLP protocol the services speak, not \"grpc\"\n" +
			`config: OTEL_EXPORTER_OTLP_ENDPOINT must be an absolute http(s) URL, not "collector:4318"`},
	} {
		if err := tc.env.Err(); err == nil || err.Error() != tc.want {
			t.Errorf("got %v, want %s", err, tc.want)
		}
	}
}

// With nothing to export the provider is the no-op one; the console
// exporter writes spans with the service's name.
func TestNewTraces(t *testing.T) {
	lc := fxtest.NewLifecycle(t)
	off, err := NewTraces(lc, slog.New(slog.DiscardHandler), TracingConfig{ServiceName: "orchestrator"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := off.Provider.(noop.TracerProvider); !ok {
		t.Fatalf("tracing off: provider %T, want the no-op provider", off.Provider)
	}

	var out bytes.Buffer
	on, err := NewTraces(lc, slog.New(slog.DiscardHandler), TracingConfig{ServiceName: "orchestrator", Exporter: ExportConsole, Console: &out})
	if err != nil {
		t.Fatal(err)
	}
	_, span := on.Provider.Tracer("test").Start(context.Background(), "GET /health")
	span.End()
	if err := on.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name     string
		Resource []struct {
			Key   string
			Value struct{ Value any }
		}
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("console output %q: %v", out.String(), err)
	}
	name := ""
	for _, kv := range got.Resource {
		if kv.Key == "service.name" {
			name, _ = kv.Value.Value.(string)
		}
	}
	if got.Name != "GET /health" || name != "orchestrator" {
		t.Fatalf("console span %q of service %q, want GET /health of orchestrator; output %s", got.Name, name, strings.TrimSpace(out.String()))
	}
	lc.RequireStart().RequireStop()
}
