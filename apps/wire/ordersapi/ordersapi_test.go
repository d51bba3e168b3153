package ordersapi

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/b2borders/platform/apps/wire/shell"
	"github.com/b2borders/platform/core/idempotency"
	"github.com/b2borders/platform/core/ordering"
)

func validEnv() map[string]string {
	return map[string]string{
		"DATABASE_URL":      "mysql://app:secret@db:3306/orders_db",
		"JWT_SECRET":        "jwt-secret-0123456789abcdef",
		"SERVICE_TOKEN":     "service-token-0123456789abcdef",
		"CUSTOMERS_API_URL": "http://customers-api:3001",
	}
}

func TestValidateApp(t *testing.T) {
	env := shell.MapEnv(validEnv())
	cfg := LoadConfig(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	if err := fx.ValidateApp(Module(cfg, slog.New(slog.DiscardHandler))); err != nil {
		t.Fatalf("the orders-api graph is incomplete: %v", err)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	env := shell.MapEnv(validEnv())
	cfg := LoadConfig(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	if cfg.Ordering.ReservationTTL != 30*time.Minute {
		t.Fatalf("default reservation TTL %s, want 30m", cfg.Ordering.ReservationTTL)
	}
	if cfg.Port != DefaultPort || cfg.Ordering.CancelWindow != 10*time.Minute || cfg.Ordering.IdempotencyTTL != 24*time.Hour {
		t.Fatalf("defaults: port %d, cancel window %s, idempotency TTL %s", cfg.Port, cfg.Ordering.CancelWindow, cfg.Ordering.IdempotencyTTL)
	}
	if cfg.Customers.BaseURL != "http://customers-api:3001" || cfg.Customers.ServiceToken != "service-token-0123456789abcdef" {
		t.Fatalf("customers client config %+v", cfg.Customers)
	}
	if cfg.MySQL.Schema == nil {
		t.Fatal("the orders schema is not applied at open")
	}
}

func TestLoadConfigOverrides(t *testing.T) {
	vars := validEnv()
	vars["PORT"], vars["CANCEL_WINDOW"], vars["IDEMPOTENCY_TTL"], vars["RESERVATION_TTL"] = "4002", "90s", "1h", "5s"
	env := shell.MapEnv(vars)
	cfg := LoadConfig(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	if cfg.Ordering.ReservationTTL != 5*time.Second {
		t.Fatalf("reservation TTL %s, want 5s", cfg.Ordering.ReservationTTL)
	}
	vars["RESERVATION_TTL"] = "0"
	off := shell.MapEnv(vars)
	if cfg := LoadConfig(off); off.Err() != nil || cfg.Ordering.ReservationTTL != 0 {
		t.Fatalf("RESERVATION_TTL=0: %s, %v; want off", cfg.Ordering.ReservationTTL, off.Err())
	}
	if cfg.Port != 4002 || cfg.Ordering.CancelWindow != 90*time.Second || cfg.Ordering.IdempotencyTTL != time.Hour {
		t.Fatalf("overrides not read: %+v", cfg)
	}
}

// Webhooks are off unless WEBHOOK_URL is set, and then they need a secret.
func TestLoadConfigWebhooks(t *testing.T) {
	env := shell.MapEnv(validEnv())
	if cfg := LoadConfig(env); env.Err() != nil || cfg.Events.Webhook != nil || cfg.Events.Retention != 7*24*time.Hour {
		t.Fatalf("without WEBHOOK_URL: webhook %+v, retention %s, err %v", cfg.Events.Webhook, cfg.Events.Retention, env.Err())
	}
	vars := validEnv()
	vars["WEBHOOK_URL"] = "https://hooks.example.com/in"
	env = shell.MapEnv(vars)
	LoadConfig(env)
	if err := env.Err(); err == nil || err.Error() != "config: WEBHOOK_SECRET is required when WEBHOOK_URL is set" {
		t.Fatalf("WEBHOOK_URL without a secret: %v", err)
	}
	vars["WEBHOOK_SECRET"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vars["WEBHOOK_MAX_ATTEMPTS"], vars["WEBHOOK_TIMEOUT"], vars["EVENT_RETENTION"] = "3", "2s", "1h"
	env = shell.MapEnv(vars)
	cfg := LoadConfig(env)
	if err := env.Err(); err != nil {
		t.Fatal(err)
	}
	if w := cfg.Events.Webhook; w == nil || w.URL != vars["WEBHOOK_URL"] || w.Secret != vars["WEBHOOK_SECRET"] ||
		cfg.Events.Dispatch.MaxAttempts != 3 || cfg.Events.Dispatch.Timeout != 2*time.Second || cfg.Events.Retention != time.Hour {
		t.Fatalf("webhook config %+v %+v", cfg.Events.Webhook, cfg.Events)
	}
	if err := fx.ValidateApp(Module(cfg, slog.New(slog.DiscardHandler))); err != nil {
		t.Fatalf("the orders-api graph with webhooks is incomplete: %v", err)
	}
}

func TestLoadConfigNamesTheBadVariable(t *testing.T) {
	for _, tc := range []struct {
		name, key, value string
	}{
		{"missing customers url", "CUSTOMERS_API_URL", ""},
		{"relative customers url", "CUSTOMERS_API_URL", "customers-api:3001"},
		{"bad cancel window", "CANCEL_WINDOW", "ten minutes"},
		{"negative cancel window", "CANCEL_WINDOW", "-1m"},
		{"bad idempotency ttl", "IDEMPOTENCY_TTL", "0"},
		{"bad reservation ttl", "RESERVATION_TTL", "half an hour"},
		{"negative reservation ttl", "RESERVATION_TTL", "-5m"},
		{"reservation ttl without a unit", "RESERVATION_TTL", "30"},
		{"missing database", "DATABASE_URL", ""},
		{"short service token", "SERVICE_TOKEN", "short"},
		{"relative webhook url", "WEBHOOK_URL", "hooks.example.com/in"},
		{"webhook secret without prefix", "WEBHOOK_SECRET", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{"short webhook secret", "WEBHOOK_SECRET", "whsec_c2hvcnQ="},
		{"zero webhook attempts", "WEBHOOK_MAX_ATTEMPTS", "0"},
		{"bad webhook timeout", "WEBHOOK_TIMEOUT", "soon"},
		{"bad event retention", "EVENT_RETENTION", "a week"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := validEnv()
			if tc.key == "WEBHOOK_URL" {
				vars["WEBHOOK_SECRET"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
			}
			vars[tc.key] = tc.value
			env := shell.MapEnv(vars)
			LoadConfig(env)
			err := env.Err()
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %v, want one naming %s", err, tc.key)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is more than one line", err)
			}
			if (tc.key == "SERVICE_TOKEN" || tc.key == "WEBHOOK_SECRET") && strings.Contains(err.Error(), tc.value) {
				t.Fatalf("error %q shows the secret", err)
			}
		})
	}
}

// fakePurger records purges and fails the first one, as a database that is
// briefly away would.
type fakePurger struct {
	calls atomic.Int64
	seen  chan time.Time
}

func (p *fakePurger) Purge(ctx context.Context, now time.Time) (int64, error) {
	n := p.calls.Add(1)
	select {
	case p.seen <- now:
	default:
	}
	if n == 1 {
		return 0, errors.New("database away")
	}
	return 3, nil
}

var _ idempotency.Purger = (*fakePurger)(nil)

func TestPurgerRunsUntilStop(t *testing.T) {
	clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := &fakePurger{seen: make(chan time.Time, 16)}
	evs := &fakePurger{seen: make(chan time.Time, 16)}
	lc := fxtest.NewLifecycle(t)
	startPurging(lc, slog.New(slog.DiscardHandler), p, evs, purgeConfig{
		Interval:  time.Millisecond,
		Now:       func() time.Time { return clock },
		Retention: time.Hour,
	})
	if p.calls.Load() != 0 {
		t.Fatal("purged before the app started")
	}
	lc.RequireStart()
	// A failed purge must not end the loop: wait for the one after it.
	for i := 0; i < 2; i++ {
		select {
		case now := <-p.seen:
			if !now.Equal(clock) {
				t.Fatalf("purged as of %s, want the service clock's %s", now, clock)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("purge %d never ran", i+1)
		}
	}
	// Events are purged as they pass the retention.
	for i := 0; i < 2; i++ {
		select {
		case cutoff := <-evs.seen:
			if want := clock.Add(-time.Hour); !cutoff.Equal(want) {
				t.Fatalf("events purged before %s, want %s", cutoff, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event purge %d never ran", i+1)
		}
	}
	// OnStop waits for the loop to return: a loop that ignored the stop
	// would hold Stop until its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lc.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// fakeExpiring is an order store whose only use is the sweep: it counts
// the sweeps and fails the first, as a database that is briefly away would.
type fakeExpiring struct {
	ordering.Store
	calls atomic.Int64
	seen  chan time.Time
}

func (f *fakeExpiring) Expire(_ context.Context, now time.Time, _ int) (int, error) {
	n := f.calls.Add(1)
	select {
	case f.seen <- now:
	default:
	}
	if n == 1 {
		return 0, errors.New("database away")
	}
	return 0, nil
}

func TestSweeperRunsUntilStop(t *testing.T) {
	store := &fakeExpiring{seen: make(chan time.Time, 16)}
	cfg := ordering.Config{ReservationTTL: time.Second}
	lc := fxtest.NewLifecycle(t)
	startSweeper(lc, slog.New(slog.DiscardHandler), ordering.NewService(store, nil, cfg), cfg)
	lc.RequireStart()
	for i := range 2 {
		select {
		case <-store.seen:
		case <-time.After(10 * time.Second):
			t.Fatalf("sweep %d never ran", i+1)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lc.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestNoSweeperWithExpiryOff(t *testing.T) {
	store := &fakeExpiring{seen: make(chan time.Time, 16)}
	lc := fxtest.NewLifecycle(t)
	startSweeper(lc, slog.New(slog.DiscardHandler), ordering.NewService(store, nil, ordering.Config{}), ordering.Config{})
	lc.RequireStart()
	lc.RequireStop()
	if store.calls.Load() != 0 {
		t.Fatal("swept with expiry off")
	}
}
