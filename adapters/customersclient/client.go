// Package customersclient reads the customer directory from customers-api
// over HTTP with the service token. It satisfies the customer ports of the
// orders and orchestration use cases.
package customersclient

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/b2borders/platform/adapters/upstream"
	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/ordering"
)

// Client asks customers-api about customers.
type Client struct {
	up *upstream.Client
}

var _ ordering.CustomerDirectory = (*Client)(nil)

// Config says where customers-api is.
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
		Name: "customers-api", BaseURL: cfg.BaseURL, Token: cfg.ServiceToken, Timeout: cfg.Timeout,
		Traces: cfg.Traces,
	})}
}

type customerJSON struct {
	ID        uuid.UUID `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Phone     *string   `json:"phone"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Get returns a live customer; errs.NotFound when it is unknown or deleted.
func (c *Client) Get(ctx context.Context, id uuid.UUID) (customer.Customer, error) {
	res, err := c.up.Do(ctx, http.MethodGet, "/internal/customers/"+id.String(), nil, nil)
	if err != nil {
		return customer.Customer{}, err
	}
	var b customerJSON
	if err := json.Unmarshal(res.Body, &b); err != nil {
		return customer.Customer{}, err
	}
	cu := customer.Customer{ID: b.ID, Name: b.Name, Email: b.Email, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
	if b.Phone != nil {
		cu.Phone = *b.Phone
	}
	return cu, nil
}
