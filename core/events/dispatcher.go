package events

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sender delivers one event to the webhook endpoint. It returns nil when
// the endpoint accepted it (2xx), a *RejectedError when the endpoint
// refused it for good (a 4xx other than 408 and 429), and any other error
// when the attempt may succeed later: a timeout, a connection error, a 5xx,
// 408 or 429.
type Sender interface {
	Send(ctx context.Context, e Published) error
}

// RejectedError is an endpoint's refusal that a retry would not change.
type RejectedError struct {
	Status int
	Reason string
}

func (e *RejectedError) Error() string { return e.Reason }

// DispatcherConfig tunes delivery. Zero fields take the defaults below.
type DispatcherConfig struct {
	// MaxAttempts bounds the attempts of one event; after the last failed
	// one it is marked failed.
	MaxAttempts int
	// Timeout bounds one attempt. A claim lasts 2×Timeout+2s, so an attempt
	// has always ended, and its claim is still its own, before another
	// dispatcher may claim the event again.
	Timeout time.Duration
	// BaseDelay and MaxDelay shape the backoff: before attempt n+1 the
	// dispatcher waits a random time from 0 to min(MaxDelay,
	// BaseDelay×2^(n-1)) ("full jitter").
	BaseDelay, MaxDelay time.Duration
	// Poll is how long an idle dispatcher waits before it looks again.
	Poll time.Duration
	// Batch bounds the events one dispatcher sends at once.
	Batch int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Defaults of DispatcherConfig. With full jitter, ten attempts spread over
// about 8 minutes on average and at most 17 (1+2+…+512 s), so a receiver
// that is down for minutes still gets its events; one down for longer
// finds them failed in the feed, and reads them there.
const (
	DefaultMaxAttempts = 10
	DefaultTimeout     = 10 * time.Second
	DefaultBaseDelay   = time.Second
	DefaultMaxDelay    = 15 * time.Minute
	DefaultPoll        = 250 * time.Millisecond
	DefaultBatch       = 16
)

func (c DispatcherConfig) withDefaults() DispatcherConfig {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = DefaultBaseDelay
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Lease is how long a claim lasts: the attempt's timeout twice over and two
// seconds, so that the attempt ended, and its outcome had time to be
// recorded, well before any other dispatcher may claim the event again.
func (c DispatcherConfig) Lease() time.Duration {
	return 2*c.withDefaults().Timeout + 2*time.Second
}

// Backoff is the pause before the attempt after attempt n failed: full
// jitter, a random duration from 0 to min(MaxDelay, BaseDelay×2^(n-1)).
func (c DispatcherConfig) Backoff(n int) time.Duration {
	c = c.withDefaults()
	ceiling := c.BaseDelay
	for i := 1; i < n && ceiling < c.MaxDelay; i++ {
		ceiling *= 2
	}
	return rand.N(min(ceiling, c.MaxDelay) + 1)
}

// DispatchStats counts attempts' outcomes since the dispatcher started.
type DispatchStats struct {
	Delivered, Retried, Failed uint64
}

// Dispatcher delivers the outbox to one endpoint. Every replica of a
// service may run one on the same database: the store's claims make each
// event one dispatcher's at a time, and keep each resource's events in
// order. An event that fails for good does not hold back the later events
// of its resource: they carry the resource's whole state, so the next one
// delivered supersedes it, and the failure stays visible in the feed and in
// the failed count.
type Dispatcher struct {
	store Dispatch
	send  Sender
	cfg   DispatcherConfig

	delivered, retried, failed atomic.Uint64
	// oldest is the age, in nanoseconds, of the oldest pending event at the
	// last look; -1 when there was none.
	oldest atomic.Int64
}

// NewDispatcher returns a dispatcher that sends store's events with send.
func NewDispatcher(store Dispatch, send Sender, cfg DispatcherConfig) *Dispatcher {
	d := &Dispatcher{store: store, send: send, cfg: cfg.withDefaults()}
	d.oldest.Store(-1)
	return d
}

// Stats returns the outcomes counted so far.
func (d *Dispatcher) Stats() DispatchStats {
	return DispatchStats{d.delivered.Load(), d.retried.Load(), d.failed.Load()}
}

// OldestPending returns the age of the oldest event not yet delivered or
// failed at the dispatcher's last look, and false when there was none.
func (d *Dispatcher) OldestPending() (time.Duration, bool) {
	n := d.oldest.Load()
	return time.Duration(n), n >= 0
}

// markTimeout bounds recording an attempt's outcome, which runs to the end
// even when the dispatcher is stopping.
const markTimeout = 10 * time.Second

// Run delivers events until ctx ends, then waits for the attempts under
// way to finish and be recorded. A failure of the store is reported to
// onError and retried at the next poll.
func (d *Dispatcher) Run(ctx context.Context, onError func(error)) {
	for {
		n, err := d.Once(ctx)
		if err != nil && ctx.Err() == nil && onError != nil {
			onError(err)
		}
		if n == d.cfg.Batch && err == nil {
			// A full batch: more are likely waiting.
			if ctx.Err() != nil {
				return
			}
			continue
		}
		t := time.NewTimer(d.cfg.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Once claims what is due, sends it and records the outcomes, and returns
// how many events it sent.
func (d *Dispatcher) Once(ctx context.Context) (int, error) {
	now := d.cfg.Now()
	if at, ok, err := d.store.OldestPending(ctx); err == nil {
		if ok {
			d.oldest.Store(int64(max(0, now.Sub(at))))
		} else {
			d.oldest.Store(-1)
		}
	}
	claims, err := d.store.Claim(ctx, now, d.cfg.Batch, d.cfg.Lease())
	if err != nil || len(claims) == 0 {
		return 0, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(claims))
	for i, c := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.deliver(c)
		}()
	}
	wg.Wait()
	return len(claims), errors.Join(errs...)
}

// deliver makes one attempt at c and records its outcome. The attempt is
// not cut short when the dispatcher stops: it is bounded by Timeout anyway,
// and cutting it would only make the event be sent again.
func (d *Dispatcher) deliver(c Claim) error {
	sctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
	err := d.send.Send(sctx, c.Published)
	cancel()
	mctx, cancel := context.WithTimeout(context.Background(), markTimeout)
	defer cancel()
	var rejected *RejectedError
	switch {
	case err == nil:
		d.delivered.Add(1)
		return d.store.Delivered(mctx, c, d.cfg.Now())
	case errors.As(err, &rejected):
		d.failed.Add(1)
		return d.store.Fail(mctx, c, reason(err))
	case c.Attempt >= d.cfg.MaxAttempts:
		d.failed.Add(1)
		return d.store.Fail(mctx, c, reason(err))
	default:
		d.retried.Add(1)
		return d.store.Retry(mctx, c, d.cfg.Now().Add(d.cfg.Backoff(c.Attempt)), reason(err))
	}
}

// maxReason bounds the reason kept with an event.
const maxReason = 300

func reason(err error) string {
	s := err.Error()
	if len(s) > maxReason {
		s = strings.ToValidUTF8(s[:maxReason], "")
	}
	return s
}
