package orchestrator_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/orchestrator"
)

// TestStrictBody: member names match exactly, names sent twice, invalid
// text and wrong types are refused with every field named, and nothing is
// placed.
func TestStrictBody(t *testing.T) {
	s := orchestrator.NewStack(t)
	o := boot(t, s.Config(), apptest.OperatorToken(t))
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 700, 5)
	rowsBefore := s.OrderRows(t)

	for _, tc := range []struct {
		name, body string
		fields     []string
	}{
		{"a name in another case", `{"customer_id":"` + c.ID + `","items":[{"product_id":"` + p + `","qty":1,"Qty":5}],"idempotency_key":"s-1"}`, []string{"items[0].Qty"}},
		{"a name in capitals", `{"CUSTOMER_ID":"` + c.ID + `","items":[{"product_id":"` + p + `","qty":1}],"idempotency_key":"s-2"}`, []string{"CUSTOMER_ID", "customer_id"}},
		{"a name sent twice", `{"customer_id":"` + c.ID + `","items":[{"product_id":"` + p + `","qty":1,"qty":5}],"idempotency_key":"s-3"}`, []string{"items[0].qty"}},
		{"a lone surrogate", `{"customer_id":"` + c.ID + `","items":[{"product_id":"` + p + `","qty":1}],"idempotency_key":"s-4","correlation_id":"\udc00"}`, []string{"correlation_id"}},
		{"every wrong type", `{"customer_id":1,"items":[{"product_id":"` + p + `","qty":1},{"product_id":"` + p + `","qty":"2"}],"idempotency_key":5}`, []string{"customer_id", "idempotency_key", "items[1].qty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := failed(t, o.Do(t, http.MethodPost, route, tc.body), http.StatusBadRequest, "validation_failed")
			want := slices.Clone(tc.fields)
			slices.Sort(want)
			if got := fieldsOf(t, e.Error.Details); !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v", got, want)
			}
		})
	}
	// A body that could not be read whole does not set the correlation id.
	e := failed(t, o.Do(t, http.MethodPost, route,
		`{"customer_id":"`+c.ID+`","items":[{"product_id":"`+p+`","qty":1}],"idempotency_key":"s-5","correlation_id":"req-body","Note":1}`,
		"X-Correlation-ID", "req-header"), http.StatusBadRequest, "validation_failed")
	if e.CorrelationID != "req-header" {
		t.Errorf("correlationId %q, want the header's req-header", e.CorrelationID)
	}
	if st := s.Stock(t, p); st != 5 {
		t.Errorf("stock %d, want 5 untouched", st)
	}
	if rows := s.OrderRows(t); !equalRows(rows, rowsBefore) {
		t.Errorf("orders %v, want %v: nothing written", rows, rowsBefore)
	}
}

// TestKeyWithSpacesAtTheEnds: HTTP trims header values, so a key with
// spaces around it would reach orders-api as another key; it is refused,
// and named as the body field it came in.
func TestKeyWithSpacesAtTheEnds(t *testing.T) {
	s := orchestrator.NewStack(t)
	o := boot(t, s.Config(), apptest.OperatorToken(t))
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 700, 5)

	first := ok(t, o.Do(t, http.MethodPost, route, request(c.ID, "checkout-77", line(p, 1))))
	for _, key := range []string{" checkout-77 ", " checkout-77", "checkout-77 ", "\tcheckout-77"} {
		e := failed(t, o.Do(t, http.MethodPost, route, request(c.ID, key, line(p, 1))), http.StatusBadRequest, "validation_failed")
		if got := fieldsOf(t, e.Error.Details); !slices.Equal(got, []string{"idempotency_key"}) {
			t.Errorf("key %q: fields %v, want [idempotency_key]", key, got)
		}
	}
	if st := s.Stock(t, p); st != 4 {
		t.Errorf("stock %d, want 4: only the first order took any", st)
	}
	again := ok(t, o.Do(t, http.MethodPost, route, request(c.ID, "checkout-77", line(p, 1))))
	if again.Data.Order.ID != first.Data.Order.ID {
		t.Errorf("a retry with the key placed order %s, want %s", again.Data.Order.ID, first.Data.Order.ID)
	}
}

func equalRows(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
