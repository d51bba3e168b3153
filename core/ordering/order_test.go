package ordering

import (
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
