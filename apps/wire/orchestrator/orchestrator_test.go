package orchestrator_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/b2borders/platform/apps/wire/orchestrator"
	"github.com/b2borders/platform/apps/wire/shell"
)

var validEnv = map[string]string{
	"CUSTOMERS_API_URL": "http://customers-api:3001",
	"ORDERS_API_URL":    "https://orders.internal",
	"JWT_SECRET":        "0123456789abcdef0123",
	"SERVICE_TOKEN":     "fedcba9876543210fedc",
}

func load(t *testing.T, vars map[string]string) orchestrator.Config {
	t.Helper()
	env := shell.MapEnv(vars)
	cfg := orchestrator.LoadConfig(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestAppGraphIsComplete(t *testing.T) {
	cfg := load(t, validEnv)
	log := shell.NewLogger(shell.MapEnv(nil))
	if err := fx.ValidateApp(orchestrator.Module(cfg, log)); err != nil {
		t.Errorf("server: %v", err)
	}
	if err := fx.ValidateApp(orchestrator.Handler(cfg, log), fx.Invoke(func(http.Handler) {})); err != nil {
		t.Errorf("lambda: %v", err)
	}
}

func TestStartLambdaBuildsTheHandlerWithoutBindingAPort(t *testing.T) {
	cfg := load(t, validEnv)
	cfg.Port = -1 // a server would fail to bind this
	fn, err := orchestrator.StartLambda(context.Background(), cfg, shell.NewLogger(shell.MapEnv(nil)))
	if err != nil || fn == nil {
		t.Fatalf("StartLambda: %v", err)
	}
}

func TestConfig(t *testing.T) {
	cfg := load(t, validEnv)
	if cfg.Port != orchestrator.DefaultPort || cfg.CustomersURL != validEnv["CUSTOMERS_API_URL"] ||
		cfg.OrdersURL != validEnv["ORDERS_API_URL"] || cfg.Auth.ServiceToken != validEnv["SERVICE_TOKEN"] ||
		cfg.Auth.JWTSecret != validEnv["JWT_SECRET"] {
		t.Fatalf("config %+v", cfg)
	}
	for _, tc := range []struct {
		name, value, want string
	}{
		{"CUSTOMERS_API_URL", "", "config: CUSTOMERS_API_URL is required"},
		{"CUSTOMERS_API_URL", "customers-api:3001", "config: CUSTOMERS_API_URL is invalid"},
		{"ORDERS_API_URL", "", "config: ORDERS_API_URL is required"},
		{"ORDERS_API_URL", "ftp://orders", "config: ORDERS_API_URL is invalid"},
		{"JWT_SECRET", "", "config: JWT_SECRET is required"},
		{"JWT_SECRET", "short-secret", "config: JWT_SECRET must be at least 16 characters long"},
		{"SERVICE_TOKEN", "", "config: SERVICE_TOKEN is required"},
		{"SERVICE_TOKEN", "short-token", "config: SERVICE_TOKEN must be at least 16 characters long"},
		{"PORT", "eighty", "config: PORT must be a port number"},
	} {
		vars := map[string]string{}
		for k, v := range validEnv {
			vars[k] = v
		}
		vars[tc.name] = tc.value
		env := shell.MapEnv(vars)
		orchestrator.LoadConfig(env)
		err := env.Err()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s=%q: error %v, want it to start with %q", tc.name, tc.value, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", tc.name, err)
		}
		if (tc.name == "JWT_SECRET" || tc.name == "SERVICE_TOKEN") && tc.value != "" && strings.Contains(err.Error(), tc.value) {
			t.Errorf("%s: the error repeats the secret", tc.name)
		}
	}
	vars := map[string]string{}
	for k, v := range validEnv {
		vars[k] = v
	}
	vars["PORT"] = "8080"
	if cfg := load(t, vars); cfg.Port != 8080 {
		t.Errorf("PORT=8080 gave port %d", cfg.Port)
	}
}
