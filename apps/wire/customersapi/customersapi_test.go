package customersapi_test

import (
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/b2borders/platform/apps/wire/customersapi"
	"github.com/b2borders/platform/apps/wire/shell"
)

var validEnv = map[string]string{
	"DATABASE_URL":  "mysql://app:secret@db.internal:3306/customers_db",
	"JWT_SECRET":    "0123456789abcdef0123",
	"SERVICE_TOKEN": "fedcba9876543210fedc",
}

func TestAppGraphIsComplete(t *testing.T) {
	env := shell.MapEnv(validEnv)
	cfg := customersapi.LoadConfig(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	if err := fx.ValidateApp(customersapi.Module(cfg, shell.NewLogger(env))); err != nil {
		t.Fatal(err)
	}
}

func TestConfig(t *testing.T) {
	env := shell.MapEnv(validEnv)
	cfg := customersapi.LoadConfig(env)
	if env.Err() != nil || cfg.Port != customersapi.DefaultPort || cfg.MySQL.Schema == nil {
		t.Fatalf("config %+v, %v", cfg, env.Err())
	}
	for _, tc := range []struct {
		name, value, want string
	}{
		{"DATABASE_URL", "", "config: DATABASE_URL is required"},
		{"DATABASE_URL", "postgres://x@y/z", "config: DATABASE_URL is invalid"},
		{"DATABASE_URL", "mysql://app:pw@db:3306/", "config: DATABASE_URL is invalid"},
		{"JWT_SECRET", "", "config: JWT_SECRET is required"},
		{"JWT_SECRET", "short", "config: JWT_SECRET must be at least 16 characters long"},
		{"SERVICE_TOKEN", "", "config: SERVICE_TOKEN is required"},
		{"PORT", "eighty", `config: PORT must be a port number`},
		{"LOG_LEVEL", "loud", "config: LOG_LEVEL must be one of"},
	} {
		vars := map[string]string{}
		for k, v := range validEnv {
			vars[k] = v
		}
		vars[tc.name] = tc.value
		env := shell.MapEnv(vars)
		shell.NewLogger(env)
		customersapi.LoadConfig(env)
		err := env.Err()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s=%q: error %v, want it to start with %q", tc.name, tc.value, err, tc.want)
			continue
		}
		if tc.value != "" && tc.name != "PORT" && tc.name != "LOG_LEVEL" && strings.Contains(err.Error(), tc.value) && tc.name != "DATABASE_URL" {
			t.Errorf("%s: the error repeats the secret value", tc.name)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", tc.name, err)
		}
	}
}
