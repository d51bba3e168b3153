package ordersapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/adapters/webhook"
	"github.com/b2borders/platform/apps/wire/shell"
	"github.com/b2borders/platform/core/events"
)

// EventsConfig is what the outbox, the feed and the webhooks take from the
// environment.
type EventsConfig struct {
	// Retention is how long events are kept; zero means
	// events.DefaultRetention.
	Retention time.Duration
	// Webhook is the endpoint events are delivered to; nil runs no
	// dispatcher (the feed still serves every event).
	Webhook *webhook.Config
	// Dispatch tunes delivery.
	Dispatch events.DispatcherConfig
	// PublishInterval is how often each replica gives new events their
	// place in the feed; zero means DefaultPublishInterval.
	PublishInterval time.Duration
}

// DefaultPublishInterval is how long at most a committed event waits for
// its place in the feed, and so for its delivery.
const DefaultPublishInterval = 200 * time.Millisecond

// loadEvents reads EVENT_RETENTION and the webhook's variables. A
// WEBHOOK_URL without a WEBHOOK_SECRET refuses to start: an unsigned
// webhook is not one a receiver can trust.
func loadEvents(env *shell.Env) EventsConfig {
	cfg := EventsConfig{
		Retention: env.Duration("EVENT_RETENTION", events.DefaultRetention),
		Dispatch: events.DispatcherConfig{
			MaxAttempts: env.Int("WEBHOOK_MAX_ATTEMPTS", events.DefaultMaxAttempts, 1, 100),
			Timeout:     env.Duration("WEBHOOK_TIMEOUT", events.DefaultTimeout),
		},
	}
	url := env.Optional("WEBHOOK_URL", shell.CheckURL)
	secret := env.Optional("WEBHOOK_SECRET", func(v string) error {
		_, err := webhook.ParseSecret(v)
		return err
	})
	if url != "" {
		if secret == "" {
			env.Fail("WEBHOOK_SECRET", "is required when WEBHOOK_URL is set")
		}
		cfg.Webhook = &webhook.Config{URL: url, Secret: secret}
	}
	return cfg
}

// newDispatcher returns the dispatcher of the configured webhook, or nil
// when there is none.
func newDispatcher(cfg EventsConfig, store *mysql.EventStore) (*events.Dispatcher, error) {
	if cfg.Webhook == nil {
		return nil, nil
	}
	send, err := webhook.New(*cfg.Webhook)
	if err != nil {
		return nil, err
	}
	return events.NewDispatcher(store, send, cfg.Dispatch), nil
}

// startDispatcher runs the dispatcher, when there is one, for the app's
// lifetime; at stop it finishes the attempts under way and records them.
func startDispatcher(lc fx.Lifecycle, log *slog.Logger, d *events.Dispatcher) {
	if d == nil {
		log.Info("webhooks off: WEBHOOK_URL is unset")
		return
	}
	background(lc, func(ctx context.Context) {
		d.Run(ctx, func(err error) { log.Warn("deliver events", "error", err.Error()) })
	})
}

// startPublisher gives committed events their place in the feed, in every
// replica, whether or not webhooks are on.
func startPublisher(lc fx.Lifecycle, log *slog.Logger, store *mysql.EventStore, cfg EventsConfig) {
	interval := cfg.PublishInterval
	if interval <= 0 {
		interval = DefaultPublishInterval
	}
	every(lc, interval, func(ctx context.Context) {
		for {
			n, err := store.Publish(ctx)
			if err != nil && ctx.Err() == nil {
				log.Warn("publish events", "error", err.Error())
			}
			if err != nil || n == 0 {
				return
			}
		}
	})
}

// registerEventMetrics adds the outbox's and the dispatcher's metrics.
func registerEventMetrics(reg *prometheus.Registry, db *mysql.DB, d *events.Dispatcher) {
	written := make(map[string]func() uint64, len(events.Types))
	for _, t := range events.Types {
		written[string(t)] = func() uint64 { return db.EventsWritten()[t] }
	}
	shell.RegisterCounters(reg, "events_written_total", "Events committed to the outbox by this replica, by type.", "type", written)
	if d == nil {
		return
	}
	shell.RegisterCounters(reg, "webhook_attempts_total",
		"Webhook delivery attempts by this replica, by outcome: delivered; retried later (a timeout, a connection error, 408, 429, 5xx); failed for good (another 4xx, or the last attempt).",
		"outcome", map[string]func() uint64{
			"delivered": func() uint64 { return d.Stats().Delivered },
			"retried":   func() uint64 { return d.Stats().Retried },
			"failed":    func() uint64 { return d.Stats().Failed },
		})
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "webhook_oldest_pending_seconds",
		Help: "Age of the oldest event in the feed not yet delivered or failed, at the dispatcher's last look; 0 when there is none.",
	}, func() float64 {
		age, ok := d.OldestPending()
		if !ok {
			return 0
		}
		return age.Seconds()
	}))
}
