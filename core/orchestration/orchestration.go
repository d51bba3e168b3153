// Package orchestration places and confirms an order in one call, across
// the customers and orders services, exactly once per idempotency key: a
// retry with the key, also after a crash between the two steps, ends with
// the same order and never takes stock twice.
package orchestration

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/correlation"
	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/idempotency"
	"github.com/b2borders/platform/core/ordering"
)

// Customers finds the customer an order is for; errs.NotFound means
// unknown or deleted.
type Customers interface {
	Get(ctx context.Context, id uuid.UUID) (customer.Customer, error)
}

// Orders places and confirms orders. Both commands are idempotent under
// their key, which is what makes the whole orchestration safe to retry.
type Orders interface {
	// Place creates the order r asks for, or, when r.IdempotencyKey placed
	// an order before, returns that order as it is now. The same key with
	// another request is errs.IdempotencyKeyReused.
	Place(ctx context.Context, r ordering.PlaceRequest) (ordering.Order, error)
	// Confirm confirms order id under key; a retry with the key returns
	// the outcome of the first attempt.
	Confirm(ctx context.Context, id uuid.UUID, key string) (ordering.Order, error)
}

// Item asks for Qty units of a product. Ids are raw strings so that every
// malformed one is reported with the rest of the request's problems.
type Item struct {
	ProductID string
	Qty       int64
}

// Request is an order to place and confirm, as a client sends it.
// CorrelationID is optional; the caller puts the id in effect into the
// context (correlation.WithID), and it is checked here only so that a bad
// one is reported with the other fields.
type Request struct {
	CustomerID     string
	Items          []Item
	IdempotencyKey string
	CorrelationID  string
}

// Result is what a completed orchestration hands back: whom the order is
// for, and the order, CONFIRMED.
type Result struct {
	Customer customer.Customer
	Order    ordering.Order
}

// Validate reports every invalid field of r at once, as CreateAndConfirm
// checks them before it calls anything.
func (r Request) Validate() error {
	_, err := r.place()
	return err
}

// place validates r, reporting every invalid field at once, and returns
// the request the orders service is sent.
func (r Request) place() (ordering.PlaceRequest, error) {
	var fe errs.Fields
	pr := ordering.PlaceRequest{IdempotencyKey: r.IdempotencyKey}
	if r.CustomerID == "" {
		fe.Add("customer_id", "is required")
	} else if id, err := uuid.Parse(r.CustomerID); err != nil || id == uuid.Nil {
		fe.Add("customer_id", "must be a UUID")
	} else {
		pr.CustomerID = id
	}
	if n := len(r.Items); n < 1 || n > ordering.MaxLines {
		fe.Add("items", "must hold 1 to %d lines", ordering.MaxLines)
	}
	for i, it := range r.Items {
		var line ordering.Line
		if it.ProductID == "" {
			fe.Add(fmt.Sprintf("items[%d].product_id", i), "is required")
		} else if id, err := uuid.Parse(it.ProductID); err != nil || id == uuid.Nil {
			fe.Add(fmt.Sprintf("items[%d].product_id", i), "must be a UUID")
		} else {
			line.ProductID = id
		}
		if it.Qty < 1 || it.Qty > ordering.MaxQty {
			fe.Add(fmt.Sprintf("items[%d].qty", i), "must be 1 to %d", ordering.MaxQty)
		}
		line.Qty = it.Qty
		pr.Lines = append(pr.Lines, line)
	}
	if !idempotency.ValidKey(r.IdempotencyKey) {
		fe.Add("idempotency_key", "is required: 1 to %d printable ASCII characters, not starting or ending with a space", idempotency.MaxKeyLen)
	}
	if r.CorrelationID != "" && !correlation.Valid(r.CorrelationID) {
		fe.Add("correlation_id", "must be 1 to %d printable ASCII characters without spaces", correlation.MaxLen)
	}
	return pr, fe.Err()
}

// Service is the orchestration use case.
type Service struct {
	customers Customers
	orders    Orders
}

// NewService returns the use case over the two services.
func NewService(customers Customers, orders Orders) *Service {
	return &Service{customers: customers, orders: orders}
}

// CreateAndConfirm checks the customer, places the order under the
// request's idempotency key and confirms it under the same key.
//
// An unknown or deleted customer is errs.CustomerNotFound (the request
// names something that does not exist, as the orders service says too).
// The orders service's own errors pass through with their meaning
// (insufficient stock with its short lines, unknown products, a reused
// key), as do dependency failures, which are worth retrying with the same
// key: a step that already happened is not done again.
func (s *Service) CreateAndConfirm(ctx context.Context, r Request) (Result, error) {
	pr, err := r.place()
	if err != nil {
		return Result{}, err
	}
	c, err := s.customers.Get(ctx, pr.CustomerID)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return Result{}, errs.New(errs.CustomerNotFound, "customer %s does not exist", pr.CustomerID)
		}
		return Result{}, dependency("customers-api", err)
	}
	o, err := s.orders.Place(ctx, pr)
	if err != nil {
		return Result{}, dependency("orders-api", err)
	}
	switch o.Status {
	case ordering.Confirmed:
		// A retry of a run that finished: the order is already what the
		// client asked for, and asking again would only replay.
		return Result{Customer: c, Order: o}, nil
	case ordering.Canceled, ordering.Expired:
		// Confirming under the key would replay the confirmation stored
		// before the cancel, claiming a state the order no longer has; an
		// expired order was never confirmed and cannot be now.
		return Result{}, errs.New(errs.InvalidTransition,
			"order %s placed under this idempotency key is %s", o.ID, o.Status)
	}
	o, err = s.orders.Confirm(ctx, o.ID, r.IdempotencyKey)
	if err != nil {
		return Result{}, dependency("orders-api", err)
	}
	return Result{Customer: c, Order: o}, nil
}

// ErrCredentialsRefused is a service refusing the orchestrator's own
// service token: a deployment fault, never the caller's.
var ErrCredentialsRefused = errors.New("orchestration: a service refused the service token")

// dependency keeps a service's answer with its meaning, but for two kinds.
// A refusal of our credentials must not reach the caller as their 401 or
// 403: it becomes an unclassified error, logged once and answered as an
// internal error. A service down or slow is told to the caller in plain
// words, naming the service; the cause (addresses, dial errors) stays in
// the error's text for the log.
func dependency(service string, err error) error {
	switch errs.CodeOf(err) {
	case errs.Unauthorized, errs.Forbidden:
		return fmt.Errorf("%w: %s: %v", ErrCredentialsRefused, service, err)
	case errs.DependencyUnavailable:
		return fmt.Errorf("%w: %v", errs.New(errs.DependencyUnavailable,
			"%s is unavailable; retry with the same idempotency_key", service), err)
	case errs.DependencyTimeout:
		return fmt.Errorf("%w: %v", errs.New(errs.DependencyTimeout,
			"%s did not answer in time; retry with the same idempotency_key", service), err)
	}
	return err
}
