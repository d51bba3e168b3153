package shell

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/fx"

	"github.com/b2borders/platform/adapters/tracing"
)

// Where a shell's spans go.
const (
	// ExportNone makes no spans: the no-op provider. Trace context still
	// passes through.
	ExportNone = "none"
	// ExportConsole writes each span as a JSON line to stdout.
	ExportConsole = "console"
	// ExportOTLP sends the spans in batches over OTLP/HTTP (protobuf).
	ExportOTLP = "otlp"
)

// TracingConfig says whether and where a shell exports its spans.
type TracingConfig struct {
	// ServiceName is every span's service.name.
	ServiceName string
	// Exporter is ExportNone (also ""), ExportConsole or ExportOTLP.
	Exporter string
	// OTLPEndpoint is the full URL spans are posted to, for ExportOTLP.
	OTLPEndpoint string
	// SpanExporter, when set, gets every span as it ends, whatever
	// Exporter says: for tests, and for the dev stack's own printer.
	SpanExporter sdktrace.SpanExporter
	// Console is where ExportConsole writes; nil is stdout.
	Console io.Writer
}

// DefaultOTLPEndpoint is where ExportOTLP posts spans when no endpoint is
// set: a collector on this host, at the OTLP/HTTP port.
const DefaultOTLPEndpoint = "http://localhost:4318/v1/traces"

// LoadTracing reads the standard OpenTelemetry variables a shell honours:
// OTEL_SERVICE_NAME (default name), OTEL_TRACES_EXPORTER (none, console,
// otlp), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL and OTEL_SDK_DISABLED. Nothing is
// exported unless OTEL_TRACES_EXPORTER or an OTLP endpoint is set. The
// OTLP exporter itself reads the rest of its variables (headers, timeout,
// compression, certificates), and the SDK its sampler and batch settings.
func LoadTracing(env *Env, name string) TracingConfig {
	cfg := TracingConfig{ServiceName: env.String("OTEL_SERVICE_NAME", name), Exporter: ExportNone}
	if strings.EqualFold(env.String("OTEL_SDK_DISABLED", ""), "true") {
		return cfg
	}
	tracesEndpoint := env.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	endpoint := env.String("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	exporter := strings.TrimSpace(env.String("OTEL_TRACES_EXPORTER", ""))
	if exporter == "" && (tracesEndpoint != "" || endpoint != "") {
		exporter = ExportOTLP
	}
	switch exporter {
	case "", ExportNone:
	case ExportConsole:
		cfg.Exporter = ExportConsole
	case ExportOTLP:
		cfg.Exporter = ExportOTLP
		protocol, protocolVar := env.String("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", ""), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
		if protocol == "" {
			protocol, protocolVar = env.String("OTEL_EXPORTER_OTLP_PROTOCOL", ""), "OTEL_EXPORTER_OTLP_PROTOCOL"
		}
		if protocol != "" && protocol != "http/protobuf" {
			env.fail(protocolVar, "must be http/protobuf, the only OTLP protocol the services speak, not %q", protocol)
		}
		switch {
		case tracesEndpoint != "":
			cfg.OTLPEndpoint = checkEndpoint(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", tracesEndpoint)
		case endpoint != "":
			// The signal's path is appended to the base endpoint.
			cfg.OTLPEndpoint = strings.TrimRight(checkEndpoint(env, "OTEL_EXPORTER_OTLP_ENDPOINT", endpoint), "/") + "/v1/traces"
		default:
			cfg.OTLPEndpoint = DefaultOTLPEndpoint
		}
	default:
		env.fail("OTEL_TRACES_EXPORTER", "must be one of otlp, console, none, not %q", exporter)
	}
	return cfg
}

func checkEndpoint(env *Env, name, v string) string {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		env.fail(name, "must be an absolute http(s) URL, not %q", v)
	}
	return v
}

// Traces is a shell's tracer provider and how to flush it.
type Traces struct {
	Provider trace.TracerProvider
	// Flush exports every span ended so far; the Lambda calls it before
	// each invocation returns.
	Flush func(context.Context) error
}

// NewTraces builds the tracer provider cfg asks for: the no-op provider
// when nothing is exported, so that the hot path pays nothing, else the SDK
// with the service's resource, sampling as OTEL_TRACES_SAMPLER says (by
// default every trace the caller did not sample out). Spans are batched,
// except for cfg.SpanExporter, which gets each as it ends. The provider is
// flushed and shut down when the app stops.
func NewTraces(lc fx.Lifecycle, log *slog.Logger, cfg TracingConfig) (Traces, error) {
	// Libraries that use the global propagator speak the same.
	otel.SetTextMapPropagator(tracing.Propagator)
	var opt sdktrace.TracerProviderOption
	switch {
	case cfg.SpanExporter != nil:
		opt = sdktrace.WithSyncer(cfg.SpanExporter)
	case cfg.Exporter == ExportConsole:
		w := cfg.Console
		if w == nil {
			w = os.Stdout
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return Traces{}, err
		}
		opt = sdktrace.WithBatcher(exp)
	case cfg.Exporter == ExportOTLP:
		exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(cfg.OTLPEndpoint))
		if err != nil {
			return Traces{}, fmt.Errorf("OTLP exporter for %s: %w", cfg.OTLPEndpoint, err)
		}
		opt = sdktrace.WithBatcher(exp)
		// An unreachable collector is reported on the service's log, as
		// a JSON line like every other, not by the SDK's own logger.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("trace export failed", "error", err.Error())
		}))
	default:
		return Traces{Provider: noop.NewTracerProvider(), Flush: func(context.Context) error { return nil }}, nil
	}
	// OTEL_RESOURCE_ATTRIBUTES and the SDK's own attributes, then the name.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName)))
	if err != nil {
		return Traces{}, err
	}
	tp := sdktrace.NewTracerProvider(opt, sdktrace.WithResource(res))
	lc.Append(fx.StopHook(tp.Shutdown))
	return Traces{Provider: tp, Flush: tp.ForceFlush}, nil
}

// TracerProvider hands the provider to the adapters.
func (t Traces) TracerProvider() trace.TracerProvider { return t.Provider }

// TracingModule provides Traces and its trace.TracerProvider from a
// TracingConfig the application supplies.
var TracingModule = fx.Options(
	fx.Provide(NewTraces, Traces.TracerProvider),
)
