package main

import (
	"strings"
	"testing"

	"github.com/b2borders/platform/apps/wire/shell"
)

// The dev stack takes a server, never a database: it creates its own two.
func TestServerURLNamesNoDatabase(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"", ""},
		{"mysql://root:pw@127.0.0.1:3306/", ""},
		{"root:pw@tcp(127.0.0.1:3306)/", ""},
		{"mysql://root:pw@127.0.0.1:3306/orders_db", `config: DEVSTACK_SERVER_URL is invalid: names the database "orders_db"`},
		{"postgres://x@y/", "config: DEVSTACK_SERVER_URL is invalid"},
	} {
		env := shell.MapEnv(map[string]string{ServerURLVar: tc.value})
		cfg := loadConfig(env)
		err := env.Err()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.value, err)
		case tc.want == "" && cfg.serverURL != tc.value:
			t.Errorf("%q: server %q", tc.value, cfg.serverURL)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want one starting %q", tc.value, err, tc.want)
		}
	}
	// The dev defaults are what .env.example holds (testsuite/deploy checks
	// that file against these).
	cfg := loadConfig(shell.MapEnv(nil))
	if cfg.auth.JWTSecret != devJWTSecret || cfg.auth.ServiceToken != devServiceToken || cfg.customersPort != 3001 ||
		cfg.ordersPort != 3002 || cfg.orchestratorPort != 3000 {
		t.Errorf("defaults %+v", cfg)
	}
}
