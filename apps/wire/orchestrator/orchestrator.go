// Package orchestrator assembles the orchestrator from the orchestration
// use case, the customers and orders clients and the HTTP handler. The same
// handler is served by a local HTTP server (Module) and, in AWS Lambda, to
// API Gateway events (StartLambda).
package orchestrator

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/b2borders/platform/adapters/awslambda"
	"github.com/b2borders/platform/adapters/customersclient"
	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/adapters/ordersclient"
	"github.com/b2borders/platform/apps/wire/shell"
	"github.com/b2borders/platform/core/orchestration"
)

// DefaultPort is where the local server listens when PORT is unset.
const DefaultPort = 3000

// Config is everything the orchestrator reads from its environment.
type Config struct {
	// Port is the local server's; the Lambda binds nothing.
	Port         int
	CustomersURL string
	OrdersURL    string
	Auth         httpapi.AuthConfig
	// CallTimeout bounds one attempt of one upstream call; zero means
	// upstream.DefaultTimeout. The orchestration's budget, or the Lambda's
	// remaining time, bounds them all.
	CallTimeout time.Duration
	// Budget bounds one whole orchestration; zero means
	// httpapi.DefaultOrchestrationBudget.
	Budget  time.Duration
	Tracing shell.TracingConfig
}

// Name is the orchestrator's name in its logs and traces.
const Name = "orchestrator"

// LoadConfig reads the orchestrator's variables; env.Err reports the first
// bad one.
func LoadConfig(env *shell.Env) Config {
	return Config{
		Port:         env.Port("PORT", DefaultPort),
		CustomersURL: env.URL("CUSTOMERS_API_URL"),
		OrdersURL:    env.URL("ORDERS_API_URL"),
		Auth:         shell.LoadAuth(env),
		Tracing:      shell.LoadTracing(env, Name),
	}
}

// Handler is the orchestrator's http.Handler with all it needs, and no
// server: what the Lambda runs.
func Handler(cfg Config, log *slog.Logger) fx.Option {
	// Every line names the service: the dev stack runs several in one process.
	log = log.With("service", Name)
	return fx.Options(
		fx.WithLogger(func() fxevent.Logger { return shell.FxLogger(log) }),
		fx.Supply(
			log,
			cfg.Auth,
			cfg.Tracing,
			httpapi.OrchestratorConfig{Budget: cfg.Budget},
		),
		shell.TracingModule,
		fx.Provide(
			func(traces trace.TracerProvider) httpapi.Ops { return ops(cfg, traces) },
			func(traces trace.TracerProvider) *customersclient.Client {
				return customersclient.New(customersclient.Config{
					BaseURL: cfg.CustomersURL, ServiceToken: cfg.Auth.ServiceToken, Timeout: cfg.CallTimeout, Traces: traces,
				})
			},
			func(traces trace.TracerProvider) *ordersclient.Client {
				return ordersclient.New(ordersclient.Config{
					BaseURL: cfg.OrdersURL, ServiceToken: cfg.Auth.ServiceToken, Timeout: cfg.CallTimeout, Traces: traces,
				})
			},
			httpapi.NewAuth,
			newService,
			httpapi.NewOrchestratorHandler,
		),
	)
}

// Module is the local orchestrator: the handler served on cfg.Port.
func Module(cfg Config, log *slog.Logger) fx.Option {
	return fx.Options(
		Handler(cfg, log),
		fx.Supply(shell.ServerConfig{Name: Name, Port: cfg.Port}),
		fx.Provide(shell.NewServer),
		fx.Invoke(func(*shell.Server) {}),
	)
}

// ops are the orchestrator's operational endpoints: it is ready while both
// services it calls answer.
func ops(cfg Config, traces trace.TracerProvider) httpapi.Ops {
	return httpapi.Ops{
		Ready: upstreamsReady(
			upstream{name: "customers-api", baseURL: cfg.CustomersURL},
			upstream{name: "orders-api", baseURL: cfg.OrdersURL},
		),
		Registry: shell.NewRegistry(),
		OpenAPI:  httpapi.OrchestratorOpenAPI,
		Traces:   traces,
	}
}

func newService(c *customersclient.Client, o *ordersclient.Client) *orchestration.Service {
	return orchestration.NewService(c, o)
}

// StartLambda builds and starts the handler once, at the cold start of an
// execution environment, and returns the function lambda.Start serves with
// it for every invocation the environment gets. Each invocation is a span,
// flushed before the invocation returns.
func StartLambda(ctx context.Context, cfg Config, log *slog.Logger) (awslambda.Function, error) {
	var h http.Handler
	var traces shell.Traces
	app := fx.New(Handler(cfg, log), fx.Populate(&h, &traces))
	if err := app.Err(); err != nil {
		return nil, err
	}
	if err := app.Start(ctx); err != nil {
		return nil, err
	}
	return awslambda.Handler(h, awslambda.DefaultReserve, awslambda.Tracing{Provider: traces.Provider, Flush: traces.Flush}), nil
}
