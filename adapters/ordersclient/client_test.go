package ordersclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/b2borders/platform/adapters/ordersclient"
	"github.com/b2borders/platform/core/correlation"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/ordering"
)

const token = "service-token-0123456789"

const orderBody = `{"id":"0190f0a4-0000-7000-8000-000000000001","customer_id":"0190f0a4-0000-7000-8000-0000000000c1",
"status":"%s","total_cents":389700,"items":[{"product_id":"0190f0a4-0000-7000-8000-0000000000a1","qty":3,
"unit_price_cents":129900,"subtotal_cents":389700}],"created_at":"2025-01-02T03:04:05.123456Z",
"updated_at":"2025-01-02T03:04:05.123456Z","confirmed_at":%s,"canceled_at":null}`

func serve(t *testing.T, h http.HandlerFunc) *ordersclient.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return ordersclient.New(ordersclient.Config{BaseURL: srv.URL + "/", ServiceToken: token})
}

func TestPlaceSendsTheOrderWithItsKey(t *testing.T) {
	cust, prod := uuid.New(), uuid.New()
	var got struct {
		method, path, auth, key, ctype, reqID, corrID string
		body                                          map[string]any
	}
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path = r.Method, r.URL.Path
		got.auth, got.key, got.ctype = r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), r.Header.Get("Content-Type")
		got.reqID, got.corrID = r.Header.Get("X-Request-ID"), r.Header.Get("X-Correlation-ID")
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &got.body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, fmt.Sprintf(orderBody, "CREATED", "null"))
	})
	ctx := correlation.WithID(context.Background(), "req-789")
	o, err := c.Place(ctx, ordering.PlaceRequest{CustomerID: cust, Lines: []ordering.Line{{ProductID: prod, Qty: 3}}, IdempotencyKey: "abc-123"})
	if err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPost || got.path != "/orders" {
		t.Errorf("%s %s, want POST /orders", got.method, got.path)
	}
	if got.auth != "Bearer "+token || got.key != "abc-123" || got.ctype != "application/json" {
		t.Errorf("Authorization %q, Idempotency-Key %q, Content-Type %q", got.auth, got.key, got.ctype)
	}
	if got.reqID != "req-789" || got.corrID != "req-789" {
		t.Errorf("X-Request-ID %q, X-Correlation-ID %q, want the correlation id forwarded", got.reqID, got.corrID)
	}
	wantBody := map[string]any{"customer_id": cust.String(), "items": []any{map[string]any{"product_id": prod.String(), "qty": float64(3)}}}
	if b, w := mustJSON(got.body), mustJSON(wantBody); b != w {
		t.Errorf("body %s, want %s", b, w)
	}
	if o.Status != ordering.Created || o.TotalCents != 389700 || len(o.Items) != 1 || o.Items[0].UnitPriceCents != 129900 ||
		o.ID.String() != "0190f0a4-0000-7000-8000-000000000001" || o.ConfirmedAt != nil || o.CreatedAt.IsZero() {
		t.Errorf("decoded order %+v", o)
	}
}

func TestConfirmSendsTheKeyAsXIdempotencyKey(t *testing.T) {
	id := uuid.MustParse("0190f0a4-0000-7000-8000-000000000001")
	var path, key string
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		path, key = r.Method+" "+r.URL.Path, r.Header.Get("X-Idempotency-Key")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, fmt.Sprintf(orderBody, "CONFIRMED", `"2025-01-02T03:04:06Z"`))
	})
	o, err := c.Confirm(context.Background(), id, "abc-123")
	if err != nil {
		t.Fatal(err)
	}
	if path != "POST /orders/"+id.String()+"/confirm" || key != "abc-123" {
		t.Errorf("%s with X-Idempotency-Key %q", path, key)
	}
	if o.Status != ordering.Confirmed || o.ConfirmedAt == nil {
		t.Errorf("decoded order %+v, want CONFIRMED with confirmed_at", o)
	}
}

func TestProblemsBecomeDomainErrors(t *testing.T) {
	prod := uuid.New()
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"type":"/problems/insufficient_stock","title":"Conflict","status":409,"detail":"not enough stock",`+
			`"instance":"/orders","code":"insufficient_stock","request_id":"x","details":[{"product_id":"`+prod.String()+`","available":1,"requested":3}]}`)
	})
	_, err := c.Place(context.Background(), ordering.PlaceRequest{CustomerID: uuid.New(), Lines: []ordering.Line{{ProductID: prod, Qty: 3}}, IdempotencyKey: "k"})
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.InsufficientStock {
		t.Fatalf("got %v, want insufficient_stock", err)
	}
	var short []ordering.Shortage
	if b, _ := json.Marshal(e.Details); json.Unmarshal(b, &short) != nil || len(short) != 1 || short[0].ProductID != prod || short[0].Available != 1 {
		t.Errorf("details %v, want the short line", e.Details)
	}
}

func TestTransientFailuresAreRetriedUnderTheSameKey(t *testing.T) {
	var calls atomic.Int32
	keys := make(chan string, 3)
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		keys <- r.Header.Get("X-Idempotency-Key")
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, fmt.Sprintf(orderBody, "CONFIRMED", `"2025-01-02T03:04:06Z"`))
	})
	if _, err := c.Confirm(context.Background(), uuid.New(), "abc-123"); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
	if a, b := <-keys, <-keys; a != "abc-123" || b != "abc-123" {
		t.Errorf("keys %q and %q, want the same key on the retry", a, b)
	}
}

func TestUnreachableServiceIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := ordersclient.New(ordersclient.Config{BaseURL: "http://" + addr, ServiceToken: token})
	_, err = c.Confirm(context.Background(), uuid.New(), "k")
	if !errs.Is(err, errs.DependencyUnavailable) {
		t.Errorf("got %v, want dependency_unavailable", err)
	}
}

func TestUnreadableOrderIsUnavailable(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":"0190f0a4-0000-7000-8000-000000000001","status":"SHIPPED"}`)
	})
	_, err := c.Confirm(context.Background(), uuid.New(), "k")
	if !errs.Is(err, errs.DependencyUnavailable) {
		t.Errorf("got %v, want dependency_unavailable", err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
