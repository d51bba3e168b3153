// Package ordersclient places and confirms orders through orders-api over
// HTTP with the service token. It satisfies the orders port of the
// orchestration use case; every call it makes carries an idempotency key,
// so the retries of adapters/upstream are safe.
package ordersclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/b2borders/platform/adapters/upstream"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/orchestration"
	"github.com/b2borders/platform/core/ordering"
)

// Client asks orders-api to place and confirm orders.
type Client struct {
	up *upstream.Client
}

var _ orchestration.Orders = (*Client)(nil)

// Config says where orders-api is.
type Config struct {
	BaseURL      string
	ServiceToken string
	// Timeout bounds one attempt; zero means upstream.DefaultTimeout.
	Timeout time.Duration
	// Traces makes a client span for every attempt; nil makes none.
	Traces trace.TracerProvider
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	return &Client{up: upstream.New(upstream.Config{
		Name: "orders-api", BaseURL: cfg.BaseURL, Token: cfg.ServiceToken, Timeout: cfg.Timeout,
		Traces: cfg.Traces,
	})}
}

type lineJSON struct {
	ProductID uuid.UUID `json:"product_id"`
	Qty       int64     `json:"qty"`
}

type placeJSON struct {
	CustomerID uuid.UUID  `json:"customer_id"`
	Items      []lineJSON `json:"items"`
}

type itemJSON struct {
	ProductID      uuid.UUID `json:"product_id"`
	Qty            int64     `json:"qty"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	SubtotalCents  int64     `json:"subtotal_cents"`
}

type orderJSON struct {
	ID          uuid.UUID  `json:"id"`
	CustomerID  uuid.UUID  `json:"customer_id"`
	Status      string     `json:"status"`
	TotalCents  int64      `json:"total_cents"`
	Items       []itemJSON `json:"items"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ConfirmedAt *time.Time `json:"confirmed_at"`
	CanceledAt  *time.Time `json:"canceled_at"`
}

// Place posts the order with r's key as Idempotency-Key: a repeat returns
// the order the key placed first, in its current state.
func (c *Client) Place(ctx context.Context, r ordering.PlaceRequest) (ordering.Order, error) {
	body := placeJSON{CustomerID: r.CustomerID, Items: make([]lineJSON, len(r.Lines))}
	for i, l := range r.Lines {
		body.Items[i] = lineJSON{ProductID: l.ProductID, Qty: l.Qty}
	}
	h := http.Header{}
	if r.IdempotencyKey != "" {
		h.Set("Idempotency-Key", r.IdempotencyKey)
	}
	res, err := c.up.Do(ctx, http.MethodPost, "/orders", h, body)
	if err != nil {
		return ordering.Order{}, err
	}
	return decodeOrder(res.Body)
}

// Confirm confirms order id with key as X-Idempotency-Key: a repeat gets
// the first confirmation's answer back.
func (c *Client) Confirm(ctx context.Context, id uuid.UUID, key string) (ordering.Order, error) {
	h := http.Header{}
	h.Set("X-Idempotency-Key", key)
	res, err := c.up.Do(ctx, http.MethodPost, "/orders/"+id.String()+"/confirm", h, nil)
	if err != nil {
		return ordering.Order{}, err
	}
	return decodeOrder(res.Body)
}

// decodeOrder reads an order answer. A 2xx whose body is not an order means
// orders-api is not speaking its contract: the caller cannot fix that, so it
// is reported as the dependency being unavailable.
func decodeOrder(b []byte) (ordering.Order, error) {
	var o orderJSON
	if err := json.Unmarshal(b, &o); err != nil {
		return ordering.Order{}, errs.New(errs.DependencyUnavailable, "orders-api answered with an unreadable order: %v", err)
	}
	status, ok := ordering.ParseStatus(o.Status)
	if !ok || o.ID == uuid.Nil {
		return ordering.Order{}, errs.New(errs.DependencyUnavailable, "orders-api answered with an unreadable order: %s", describe(o))
	}
	out := ordering.Order{
		ID: o.ID, CustomerID: o.CustomerID, Status: status, TotalCents: o.TotalCents,
		Items:     make([]ordering.Item, len(o.Items)),
		CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, ConfirmedAt: o.ConfirmedAt, CanceledAt: o.CanceledAt,
	}
	for i, it := range o.Items {
		out.Items[i] = ordering.Item{ProductID: it.ProductID, Qty: it.Qty, UnitPriceCents: it.UnitPriceCents, SubtotalCents: it.SubtotalCents}
	}
	return out, nil
}

func describe(o orderJSON) string {
	return fmt.Sprintf("id %q, status %q", o.ID, o.Status)
}
