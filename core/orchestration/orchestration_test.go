package orchestration_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/orchestration"
	"github.com/b2borders/platform/core/ordering"
)

// directory is a customers service with a fixed set of customers.
type directory struct {
	customers map[uuid.UUID]customer.Customer
	err       error
	calls     int
}

func (d *directory) Get(_ context.Context, id uuid.UUID) (customer.Customer, error) {
	d.calls++
	if d.err != nil {
		return customer.Customer{}, d.err
	}
	c, ok := d.customers[id]
	if !ok {
		return customer.Customer{}, errs.New(errs.NotFound, "customer %s not found", id)
	}
	return c, nil
}

// orderBook behaves as the orders service promises: a key places one order
// and replays it as it is now; a key confirms once and replays its outcome.
type orderBook struct {
	mu        sync.Mutex
	byID      map[uuid.UUID]*ordering.Order
	placedBy  map[string]placed
	confirmed map[string]ordering.Order
	price     int64

	placeEffects   int
	confirmCalls   int
	placeErr       error
	confirmErr     error // returned, without effect, while failConfirm > 0
	failConfirm    int
	loseConfirmAck int // the confirm happens, but the caller gets an error
	placeRequests  []ordering.PlaceRequest
	confirmKeys    []string
}

type placed struct {
	id          uuid.UUID
	fingerprint string
}

func newOrderBook() *orderBook {
	return &orderBook{
		byID: map[uuid.UUID]*ordering.Order{}, placedBy: map[string]placed{},
		confirmed: map[string]ordering.Order{}, price: 1299,
	}
}

func fingerprint(r ordering.PlaceRequest) string {
	return fmt.Sprint(r.CustomerID, r.Lines)
}

func (b *orderBook) Place(_ context.Context, r ordering.PlaceRequest) (ordering.Order, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.placeRequests = append(b.placeRequests, r)
	if b.placeErr != nil {
		return ordering.Order{}, b.placeErr
	}
	if p, ok := b.placedBy[r.IdempotencyKey]; ok {
		if p.fingerprint != fingerprint(r) {
			return ordering.Order{}, errs.New(errs.IdempotencyKeyReused, "key used for another request")
		}
		return *b.byID[p.id], nil
	}
	o := ordering.Order{ID: uuid.New(), CustomerID: r.CustomerID, Status: ordering.Created, CreatedAt: time.Now()}
	for _, l := range r.Lines {
		sub := l.Qty * b.price
		o.Items = append(o.Items, ordering.Item{ProductID: l.ProductID, Qty: l.Qty, UnitPriceCents: b.price, SubtotalCents: sub})
		o.TotalCents += sub
	}
	b.placeEffects++
	b.byID[o.ID] = &o
	b.placedBy[r.IdempotencyKey] = placed{id: o.ID, fingerprint: fingerprint(r)}
	return o, nil
}

func (b *orderBook) Confirm(_ context.Context, id uuid.UUID, key string) (ordering.Order, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.confirmCalls++
	b.confirmKeys = append(b.confirmKeys, key)
	if b.failConfirm > 0 {
		b.failConfirm--
		return ordering.Order{}, b.confirmErr
	}
	if o, ok := b.confirmed[key]; ok {
		if o.ID != id {
			return ordering.Order{}, errs.New(errs.IdempotencyKeyReused, "key confirmed another order")
		}
		return o, nil
	}
	o, ok := b.byID[id]
	if !ok {
		return ordering.Order{}, errs.New(errs.NotFound, "order %s not found", id)
	}
	if _, err := o.Confirm(time.Now()); err != nil {
		return ordering.Order{}, err
	}
	b.confirmed[key] = *o
	if b.loseConfirmAck > 0 {
		b.loseConfirmAck--
		return ordering.Order{}, errs.New(errs.DependencyTimeout, "orders-api did not answer in time")
	}
	return *o, nil
}

type fixture struct {
	dir    *directory
	orders *orderBook
	svc    *orchestration.Service
	cust   customer.Customer
	req    orchestration.Request
}

func newFixture() *fixture {
	c := customer.Customer{ID: uuid.New(), Name: "ACME", Email: "ops@acme.com", Phone: "+1 555"}
	f := &fixture{
		dir:    &directory{customers: map[uuid.UUID]customer.Customer{c.ID: c}},
		orders: newOrderBook(),
		cust:   c,
		req: orchestration.Request{
			CustomerID:     c.ID.String(),
			Items:          []orchestration.Item{{ProductID: uuid.NewString(), Qty: 3}, {ProductID: uuid.NewString(), Qty: 1}},
			IdempotencyKey: "abc-123",
		},
	}
	f.svc = orchestration.NewService(f.dir, f.orders)
	return f
}

func TestCreateAndConfirmPlacesAndConfirmsUnderTheKey(t *testing.T) {
	f := newFixture()
	res, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Customer != f.cust {
		t.Errorf("customer %+v, want %+v", res.Customer, f.cust)
	}
	if res.Order.Status != ordering.Confirmed {
		t.Errorf("status %s, want CONFIRMED", res.Order.Status)
	}
	if got := len(res.Order.Items); got != 2 || res.Order.TotalCents != 4*1299 {
		t.Errorf("order %+v, want 2 lines totalling %d", res.Order, 4*1299)
	}
	if len(f.orders.placeRequests) != 1 {
		t.Fatalf("%d place calls, want 1", len(f.orders.placeRequests))
	}
	pr := f.orders.placeRequests[0]
	if pr.IdempotencyKey != "abc-123" || pr.CustomerID != f.cust.ID || len(pr.Lines) != 2 || pr.Lines[0].Qty != 3 {
		t.Errorf("place request %+v does not carry the client's request and key", pr)
	}
	if !reflect.DeepEqual(f.orders.confirmKeys, []string{"abc-123"}) {
		t.Errorf("confirm keys %v, want [abc-123]", f.orders.confirmKeys)
	}
}

func TestRetryAfterFailedConfirmReturnsTheSameOrder(t *testing.T) {
	f := newFixture()
	f.orders.failConfirm = 1
	f.orders.confirmErr = errs.New(errs.DependencyUnavailable, "orders-api is unavailable")

	_, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if !errs.Is(err, errs.DependencyUnavailable) {
		t.Fatalf("first run: %v, want dependency_unavailable", err)
	}
	if f.orders.placeEffects != 1 {
		t.Fatalf("%d orders after the first run, want 1", f.orders.placeEffects)
	}
	var created uuid.UUID
	for id := range f.orders.byID {
		created = id
	}

	res, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if res.Order.ID != created {
		t.Errorf("retry returned order %s, want the one placed first, %s", res.Order.ID, created)
	}
	if res.Order.Status != ordering.Confirmed {
		t.Errorf("status %s, want CONFIRMED", res.Order.Status)
	}
	if f.orders.placeEffects != 1 {
		t.Errorf("%d orders placed, want 1", f.orders.placeEffects)
	}
}

func TestRetryAfterLostConfirmAnswerReturnsTheSameOrder(t *testing.T) {
	f := newFixture()
	f.orders.loseConfirmAck = 1

	_, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if !errs.Is(err, errs.DependencyTimeout) {
		t.Fatalf("first run: %v, want dependency_timeout", err)
	}
	first, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	again, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if err != nil {
		t.Fatalf("second retry: %v", err)
	}
	if first.Order.ID != again.Order.ID || first.Order.Status != ordering.Confirmed {
		t.Errorf("retries returned %s (%s) and %s, want one CONFIRMED order", first.Order.ID, first.Order.Status, again.Order.ID)
	}
	if f.orders.placeEffects != 1 {
		t.Errorf("%d orders placed, want 1", f.orders.placeEffects)
	}
}

func TestRetryOfFinishedRunDoesNotConfirmAgain(t *testing.T) {
	f := newFixture()
	first, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if err != nil {
		t.Fatal(err)
	}
	if again.Order.ID != first.Order.ID || again.Order.Status != ordering.Confirmed {
		t.Errorf("retry returned %s (%s), want %s CONFIRMED", again.Order.ID, again.Order.Status, first.Order.ID)
	}
	if f.orders.confirmCalls != 1 || f.orders.placeEffects != 1 {
		t.Errorf("%d confirms and %d placements, want 1 and 1", f.orders.confirmCalls, f.orders.placeEffects)
	}
}

func TestRetryOfCanceledOrderIsInvalidTransition(t *testing.T) {
	f := newFixture()
	res, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if err != nil {
		t.Fatal(err)
	}
	f.orders.byID[res.Order.ID].Status = ordering.Canceled

	_, err = f.svc.CreateAndConfirm(context.Background(), f.req)
	if !errs.Is(err, errs.InvalidTransition) {
		t.Fatalf("got %v, want invalid_transition", err)
	}
	if f.orders.confirmCalls != 1 {
		t.Errorf("%d confirm calls, want 1: a canceled order must not be confirmed again", f.orders.confirmCalls)
	}
}

func TestInvalidRequestReportsEveryFieldAndCallsNothing(t *testing.T) {
	f := newFixture()
	cases := []struct {
		name   string
		req    orchestration.Request
		fields []string
	}{
		{"empty", orchestration.Request{}, []string{"customer_id", "items", "idempotency_key"}},
		{"malformed", orchestration.Request{
			CustomerID:     "not-a-uuid",
			Items:          []orchestration.Item{{ProductID: "x", Qty: 0}, {Qty: ordering.MaxQty + 1}},
			IdempotencyKey: strings.Repeat("k", 256),
			CorrelationID:  "has space",
		}, []string{"customer_id", "items[0].product_id", "items[0].qty", "items[1].product_id", "items[1].qty", "idempotency_key", "correlation_id"}},
		{"nil uuid and control characters", orchestration.Request{
			CustomerID:     uuid.Nil.String(),
			Items:          []orchestration.Item{{ProductID: uuid.NewString(), Qty: 1}},
			IdempotencyKey: "a\nb",
		}, []string{"customer_id", "idempotency_key"}},
		{"too many lines", orchestration.Request{
			CustomerID:     uuid.NewString(),
			Items:          make([]orchestration.Item, ordering.MaxLines+1),
			IdempotencyKey: "k",
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.CreateAndConfirm(context.Background(), tc.req)
			var e *errs.Error
			if !errors.As(err, &e) || e.Code != errs.Invalid {
				t.Fatalf("got %v, want validation_failed", err)
			}
			got := map[string]bool{}
			for _, fe := range e.Fields {
				got[fe.Field] = true
			}
			for _, want := range tc.fields {
				if !got[want] {
					t.Errorf("fields %v lack %s", e.Fields, want)
				}
			}
			if tc.fields != nil && len(got) != len(tc.fields) {
				t.Errorf("fields %v, want exactly %v", e.Fields, tc.fields)
			}
			if tc.fields == nil && !got["items"] {
				t.Errorf("fields %v lack items", e.Fields)
			}
		})
	}
	if f.dir.calls != 0 || len(f.orders.placeRequests) != 0 {
		t.Errorf("%d customer lookups and %d placements for invalid requests, want none", f.dir.calls, len(f.orders.placeRequests))
	}
}

func TestUnknownCustomerIsCustomerNotFound(t *testing.T) {
	f := newFixture()
	f.req.CustomerID = uuid.NewString()
	_, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if !errs.Is(err, errs.CustomerNotFound) {
		t.Fatalf("got %v, want customer_not_found", err)
	}
	if len(f.orders.placeRequests) != 0 {
		t.Error("an order was placed for an unknown customer")
	}
}

func TestCustomersServiceDownPlacesNothing(t *testing.T) {
	f := newFixture()
	f.dir.err = errs.New(errs.DependencyUnavailable, "customers-api is unavailable")
	_, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if !errs.Is(err, errs.DependencyUnavailable) {
		t.Fatalf("got %v, want dependency_unavailable", err)
	}
	if len(f.orders.placeRequests) != 0 {
		t.Error("an order was placed while the customer could not be checked")
	}
}

func TestOrdersErrorsKeepTheirMeaning(t *testing.T) {
	short := []ordering.Shortage{{ProductID: uuid.New(), Available: 1, Requested: 3}}
	for _, want := range []error{
		ordering.InsufficientStock(short),
		errs.New(errs.ProductNotFound, "product not found"),
		errs.New(errs.IdempotencyKeyReused, "key used for another request"),
	} {
		f := newFixture()
		f.orders.placeErr = want
		_, err := f.svc.CreateAndConfirm(context.Background(), f.req)
		if err != want {
			t.Errorf("got %v, want %v unchanged", err, want)
		}
		if f.orders.confirmCalls != 0 {
			t.Errorf("%v: confirm was called after placing failed", want)
		}
	}
}

func TestDependencyFailuresNameTheServiceButNotTheCause(t *testing.T) {
	cause := `Post "http://10.0.0.7:3002/orders": dial tcp 10.0.0.7:3002: connect: connection refused`
	for _, code := range []errs.Code{errs.DependencyUnavailable, errs.DependencyTimeout} {
		f := newFixture()
		f.orders.placeErr = errs.New(code, "orders-api is unavailable: %s", cause)
		_, err := f.svc.CreateAndConfirm(context.Background(), f.req)
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != code {
			t.Fatalf("got %v, want %s", err, code)
		}
		if !strings.HasPrefix(e.Message, "orders-api ") || strings.Contains(e.Message, "10.0.0.7") {
			t.Errorf("message %q must name orders-api and not the cause", e.Message)
		}
		if !strings.Contains(err.Error(), cause) {
			t.Errorf("error text %q lost the cause, which the log needs", err)
		}
	}
}

func TestRefusedServiceTokenIsNotTheCallersFault(t *testing.T) {
	f := newFixture()
	f.dir.err = errs.New(errs.Forbidden, "the service token is not valid")
	_, err := f.svc.CreateAndConfirm(context.Background(), f.req)
	if !errors.Is(err, orchestration.ErrCredentialsRefused) || errs.CodeOf(err) != errs.Internal {
		t.Errorf("customers refusing the token: got %v (code %s), want an unclassified ErrCredentialsRefused", err, errs.CodeOf(err))
	}

	f = newFixture()
	f.orders.placeErr = errs.New(errs.Unauthorized, "bad token")
	_, err = f.svc.CreateAndConfirm(context.Background(), f.req)
	if !errors.Is(err, orchestration.ErrCredentialsRefused) || errs.CodeOf(err) != errs.Internal {
		t.Errorf("orders refusing the token: got %v (code %s), want an unclassified ErrCredentialsRefused", err, errs.CodeOf(err))
	}
}
