// Command devstack runs the whole platform in one process for development:
// an embedded MySQL-compatible engine (or the server at DATABASE_URL),
// customers-api, orders-api and the orchestrator, each through the same fx
// module its own binary runs, with sample data loaded. It prints a
// development token and a first request to try, and stops on Ctrl-C.
//
// With -engine ADDR it serves only the embedded engine on ADDR, which the
// test suites can be pointed at (TEST_MYSQL_DSN=root@tcp(ADDR)/).
//
// Environment, all optional: DATABASE_URL (a MySQL server to use instead of
// the embedded engine; customers_db and orders_db are created on it),
// JWT_SECRET, SERVICE_TOKEN, CUSTOMERS_PORT (3001), ORDERS_PORT (3002),
// ORCHESTRATOR_PORT (3000), LOG_LEVEL.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/apps/wire/shell"
)

func main() {
	engineOnly := flag.String("engine", "", "serve only the embedded engine on this host:port")
	flag.Parse()
	if *engineOnly != "" {
		serveEngine(*engineOnly)
		return
	}

	env := shell.NewEnv(nil)
	log := shell.NewLogger(env)
	cfg := loadConfig(env)
	if err := env.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	s, err := start(ctx, cfg, log)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
	token, err := httpapi.MintJWT(cfg.auth.JWTSecret, "dev@localhost", 24*time.Hour)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
	fmt.Print(banner(s, cfg, token))

	waitForSignal()
	ctx, cancel = context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "devstack: stop:", err)
		os.Exit(1)
	}
}

func waitForSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

func serveEngine(addr string) {
	e, err := startEngine(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
	fmt.Printf("embedded engine on %s: %s\n", e.addr, e.dsn())
	waitForSignal()
	e.close()
}

func banner(s *stack, cfg config, token string) string {
	db := "embedded engine (in memory: data is gone when the stack stops)"
	if s.engine == nil {
		db = "the MySQL server at DATABASE_URL"
	}
	return fmt.Sprintf(`
Development stack is up, on %s.
  customers-api  %s
  orders-api     %s
  orchestrator   %s

A development operator token (24h):
  export TOKEN=%s

Try:
  curl -s -H "Authorization: Bearer $TOKEN" %s/customers
  curl -s -H "Authorization: Bearer $TOKEN" %s/products

Ctrl-C stops it.
`, db, s.customersURL, s.ordersURL, s.orchestratorURL, token, s.customersURL, s.ordersURL)
}
