package ordering

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
)

func TestConfirm(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	o := Order{Status: Created}
	if changed, err := o.Confirm(now); !changed || err != nil || o.Status != Confirmed || !o.ConfirmedAt.Equal(now) {
		t.Fatalf("CREATED → %s, %v, %v", o.Status, changed, err)
	}
	if changed, err := o.Confirm(now.Add(time.Minute)); changed || err != nil || !o.ConfirmedAt.Equal(now) {
		t.Fatalf("confirming twice changed the order: %v, %v, %v", changed, err, o.ConfirmedAt)
	}
	c := Order{Status: Canceled}
	if _, err := c.Confirm(now); !errs.Is(err, errs.InvalidTransition) || c.Status != Canceled {
		t.Fatalf("CANCELED → confirm: %v", err)
	}
}

func TestCancel(t *testing.T) {
	confirmed := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	window := 10 * time.Minute
	for _, tc := range []struct {
		name        string
		order       Order
		at          time.Time
		restock     bool
		code        errs.Code
		finalStatus Status
	}{
		{"created", Order{Status: Created}, confirmed, true, "", Canceled},
		{"confirmed within the window", Order{Status: Confirmed, ConfirmedAt: &confirmed}, confirmed.Add(window), true, "", Canceled},
		{"confirmed after the window", Order{Status: Confirmed, ConfirmedAt: &confirmed}, confirmed.Add(window + time.Microsecond), false, errs.CancelWindowExpired, Confirmed},
		{"canceled", Order{Status: Canceled}, confirmed, false, "", Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.order
			restock, err := o.Cancel(tc.at, window)
			var code errs.Code
			if err != nil {
				code = errs.CodeOf(err)
			}
			if restock != tc.restock || code != tc.code || o.Status != tc.finalStatus {
				t.Fatalf("restock %v, err %v, status %s", restock, err, o.Status)
			}
		})
	}
}

func TestDraftMergesAndSortsLines(t *testing.T) {
	a, b := uuid.MustParse("00000000-0000-7000-8000-00000000000a"), uuid.MustParse("00000000-0000-7000-8000-00000000000b")
	cust := uuid.Must(uuid.NewV7())
	d, err := PlaceRequest{CustomerID: cust, Lines: []Line{{b, 1}, {a, 2}, {b, 3}}}.Draft()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Lines) != 2 || d.Lines[0] != (Line{a, 2}) || d.Lines[1] != (Line{b, 4}) {
		t.Fatalf("lines %+v", d.Lines)
	}
	other, _ := PlaceRequest{CustomerID: cust, Lines: []Line{{a, 2}, {b, 4}}}.Draft()
	if d.fingerprint() != other.fingerprint() {
		t.Fatal("the same merged request has two fingerprints")
	}
	more, _ := PlaceRequest{CustomerID: cust, Lines: []Line{{a, 2}, {b, 5}}}.Draft()
	if d.fingerprint() == more.fingerprint() {
		t.Fatal("different requests share a fingerprint")
	}
}

func TestDraftReportsEveryProblem(t *testing.T) {
	lines := make([]Line, MaxLines+1)
	for i := range lines {
		lines[i] = Line{uuid.Must(uuid.NewV7()), 1}
	}
	_, err := PlaceRequest{Lines: lines}.Draft()
	e, _ := err.(*errs.Error)
	if e == nil || len(e.Fields) != 2 {
		t.Fatalf("got %v, want customer_id and items errors", err)
	}
	_, err = PlaceRequest{CustomerID: uuid.Must(uuid.NewV7()), Lines: []Line{{uuid.Nil, 0}}, IdempotencyKey: strings.Repeat("k", 256)}.Draft()
	e, _ = err.(*errs.Error)
	if e == nil || len(e.Fields) != 3 {
		t.Fatalf("got %v, want product_id, qty and key errors", err)
	}
}

func TestDraftPrice(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	d := Draft{ID: uuid.New(), CustomerID: uuid.New(), Lines: []Line{{ProductID: a, Qty: 3}, {ProductID: b, Qty: 2}}}
	o, err := d.Price(map[uuid.UUID]int64{a: 100, b: 250})
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{ProductID: a, Qty: 3, UnitPriceCents: 100, SubtotalCents: 300}, {ProductID: b, Qty: 2, UnitPriceCents: 250, SubtotalCents: 500}}
	if o.TotalCents != 800 || o.Status != Created || len(o.Items) != 2 || o.Items[0] != want[0] || o.Items[1] != want[1] {
		t.Fatalf("priced %+v", o)
	}
	if _, err := d.Price(map[uuid.UUID]int64{a: 100}); !errs.Is(err, errs.ProductNotFound) || !strings.Contains(err.Error(), b.String()) {
		t.Fatalf("a product without a price: %v, want product_not_found naming it", err)
	}
	huge := Draft{Lines: []Line{{ProductID: a, Qty: MaxQty}, {ProductID: b, Qty: MaxQty}}}
	if _, err := huge.Price(map[uuid.UUID]int64{a: math.MaxInt64 / (2 * MaxQty), b: math.MaxInt64 / (2 * MaxQty)}); err != nil {
		t.Fatalf("a total that fits: %v", err)
	}
	if _, err := huge.Price(map[uuid.UUID]int64{a: math.MaxInt64 / MaxQty, b: math.MaxInt64 / MaxQty}); !errs.Is(err, errs.Invalid) {
		t.Fatalf("a total past int64: %v, want validation_failed", err)
	}
}

func TestDraftShortages(t *testing.T) {
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	d := Draft{Lines: []Line{{ProductID: a, Qty: 3}, {ProductID: b, Qty: 2}, {ProductID: c, Qty: 1}}}
	short := d.Shortages(map[uuid.UUID]Stock{a: {Available: 3}, b: {Available: 1}})
	want := []Shortage{{ProductID: b, Available: 1, Requested: 2}, {ProductID: c, Available: 0, Requested: 1}}
	if len(short) != 2 || short[0] != want[0] || short[1] != want[1] {
		t.Fatalf("shortages %+v, want %+v", short, want)
	}
}

func TestDeadline(t *testing.T) {
	deadline := time.Date(2026, 5, 1, 12, 30, 0, 0, time.UTC)
	o := Order{Status: Created, ExpiresAt: &deadline}
	before := o
	if changed, err := before.Confirm(deadline.Add(-time.Microsecond)); !changed || err != nil {
		t.Fatalf("confirm before the deadline: %v, %v", changed, err)
	}
	late := o
	if _, err := late.Confirm(deadline); !errs.Is(err, errs.InvalidTransition) || late.Status != Created {
		t.Fatalf("confirm at the deadline: %v, %s", err, late.Status)
	}
	canceled := o
	if restock, err := canceled.Cancel(deadline.Add(time.Hour), time.Minute); !restock || err != nil || canceled.Status != Canceled {
		t.Fatalf("cancel past the deadline, before the sweep: %v, %v", restock, err)
	}
	expired := o
	expired.Expire(deadline)
	if expired.Status != Expired || expired.Due(deadline) {
		t.Fatalf("expired: %s, due %v", expired.Status, expired.Due(deadline))
	}
	for _, op := range []func(*Order) error{
		func(o *Order) error { _, err := o.Confirm(deadline); return err },
		func(o *Order) error { _, err := o.Cancel(deadline, time.Hour); return err },
	} {
		e := expired
		if err := op(&e); !errs.Is(err, errs.InvalidTransition) || !strings.Contains(err.Error(), "EXPIRED") || e.Status != Expired {
			t.Fatalf("on an EXPIRED order: %v, %s", err, e.Status)
		}
	}
	if st, ok := ParseStatus("EXPIRED"); !ok || st != Expired {
		t.Fatal("EXPIRED does not parse")
	}
}

func TestSweepInterval(t *testing.T) {
	for ttl, want := range map[time.Duration]time.Duration{
		0:                0,
		2 * time.Second:  time.Second,
		5 * time.Second:  time.Second,
		30 * time.Second: 3 * time.Second,
		30 * time.Minute: 30 * time.Second,
	} {
		if got := SweepInterval(ttl); got != want {
			t.Errorf("SweepInterval(%s) = %s, want %s", ttl, got, want)
		}
	}
}
