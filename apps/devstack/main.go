// Command devstack runs the whole platform in one process for development:
// an embedded MySQL-compatible engine (or the server at
// DEVSTACK_SERVER_URL), customers-api, orders-api and the orchestrator, each
// through the same fx module its own binary runs, with sample data loaded.
// It prints an operator token, the service token and a first request to
// try, and stops on Ctrl-C.
//
// With -engine ADDR it serves only the embedded engine on ADDR (port 0
// picks a free one); its first line names the DSN the test suites can be
// pointed at. make test starts it so when it has no other database.
//
// Environment, all optional: DEVSTACK_SERVER_URL (a MySQL server to use
// instead of the embedded engine, naming no database: customers_db and
// orders_db are created on it), JWT_SECRET, SERVICE_TOKEN, CUSTOMERS_PORT
// (3001), ORDERS_PORT (3002), ORCHESTRATOR_PORT (3000), LOG_LEVEL; the
// names and defaults of .env.example. The services trace as the OTEL_*
// variables say (see shell.LoadTracing), each under its own name:
// OTEL_TRACES_EXPORTER=console prints every trace as a tree on stderr,
// OTEL_EXPORTER_OTLP_ENDPOINT sends the spans to a collector.
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
	if os.Getenv("DATABASE_URL") != "" {
		fmt.Fprintf(os.Stderr, "devstack: DATABASE_URL is ignored: it names one service's database; "+
			"to use a MySQL server of yours, set %s to it, without a database name\n", ServerURLVar)
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

	sig := waitForSignal()
	fmt.Printf("\n%s: stopping the development stack…\n", sig)
	ctx, cancel = context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "devstack: stop:", err)
		os.Exit(1)
	}
	fmt.Println("stopped.")
}

func waitForSignal() os.Signal {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	return <-sig
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
		db = "the MySQL server at " + ServerURLVar
	}
	return fmt.Sprintf(`
Development stack is up, on the %s.
  customers-api  %s
  orders-api     %s
  orchestrator   %s

An operator token (24h), and the service token the services send each other:
  export TOKEN=%s
  export SERVICE_TOKEN=%s

Try:
  curl -s -H "Authorization: Bearer $TOKEN" %s/customers
  curl -s -H "Authorization: Bearer $TOKEN" %s/products

Ctrl-C stops it.
`, db, s.customersURL, s.ordersURL, s.orchestratorURL, token, cfg.auth.ServiceToken, s.customersURL, s.ordersURL)
}
