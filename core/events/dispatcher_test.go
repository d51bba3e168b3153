package events

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestBackoffIsFullJitterUnderADoublingCeiling(t *testing.T) {
	c := DispatcherConfig{BaseDelay: time.Second, MaxDelay: 10 * time.Second}
	for n, ceiling := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 80: 10 * time.Second} {
		var top time.Duration
		for range 2000 {
			d := c.Backoff(n)
			if d < 0 || d > ceiling {
				t.Fatalf("attempt %d: pause %s outside [0, %s]", n, d, ceiling)
			}
			top = max(top, d)
		}
		if top < ceiling/2 {
			t.Errorf("attempt %d: 2000 pauses all under %s, half the ceiling %s", n, top, ceiling)
		}
	}
	if l := c.Lease(); l != 2*DefaultTimeout+2*time.Second {
		t.Errorf("lease %s", l)
	}
}

// store records the outcomes a dispatcher reports.
type store struct {
	Dispatch
	mu       sync.Mutex
	claims   []Claim
	outcomes map[int]string
}

func (s *store) OldestPending(context.Context) (time.Time, bool, error) {
	return time.Time{}, false, nil
}

func (s *store) Claim(context.Context, time.Time, int, time.Duration) ([]Claim, error) {
	c := s.claims
	s.claims = nil
	return c, nil
}

func (s *store) record(c Claim, what string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes[c.Attempt] = what
	return nil
}

func (s *store) Delivered(_ context.Context, c Claim, _ time.Time) error {
	return s.record(c, "delivered")
}
func (s *store) Retry(_ context.Context, c Claim, _ time.Time, _ string) error {
	return s.record(c, "retry")
}
func (s *store) Fail(_ context.Context, c Claim, _ string) error { return s.record(c, "failed") }

type sender func(Published) error

func (f sender) Send(_ context.Context, e Published) error { return f(e) }

// Each claim below is a distinct event, told apart by its attempt number.
func TestOutcomes(t *testing.T) {
	st := &store{outcomes: map[int]string{}}
	for a := 1; a <= 5; a++ {
		st.claims = append(st.claims, Claim{Published: Published{Event: Event{Seq: int64(a)}}, Attempt: a})
	}
	answers := map[int]error{
		1: nil,                                      // delivered
		2: &RejectedError{Status: 422, Reason: "x"}, // refused: failed at once
		3: errors.New("endpoint answered 503"),      // retried
		4: errors.New("timeout"),                    // the last attempt: failed
		5: errors.New("timeout"),                    // past the last: failed
	}
	d := NewDispatcher(st, senderByAttempt(answers), DispatcherConfig{MaxAttempts: 4})
	n, err := d.Once(context.Background())
	if err != nil || n != 5 {
		t.Fatalf("sent %d, %v", n, err)
	}
	want := map[int]string{1: "delivered", 2: "failed", 3: "retry", 4: "failed", 5: "failed"}
	for a, w := range want {
		if st.outcomes[a] != w {
			t.Errorf("attempt %d: %s, want %s", a, st.outcomes[a], w)
		}
	}
	if s := d.Stats(); s.Delivered != 1 || s.Retried != 1 || s.Failed != 3 {
		t.Errorf("stats %+v", s)
	}
}

// senderByAttempt answers by the attempt number the test gives each event
// as its Seq.
func senderByAttempt(answers map[int]error) Sender {
	return sender(func(e Published) error { return answers[int(e.Seq)] })
}
