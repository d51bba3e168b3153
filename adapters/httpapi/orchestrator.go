package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/b2borders/platform/core/correlation"
	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/orchestration"
	"github.com/b2borders/platform/core/ordering"
)

// The orchestrator's routes: the endpoint and its alias.
const (
	OrchestratePath      = "/orchestrator/create-and-confirm-order"
	OrchestrateAliasPath = "/orchestrate-order"
)

// OrchestratorEnvelope is every orchestrator answer: Data on success, Error
// otherwise. Unlike the APIs' problem+json, it is the shape the clients of
// the original orchestrator read.
type OrchestratorEnvelope struct {
	Success       bool                   `json:"success"`
	CorrelationID string                 `json:"correlationId"`
	Data          *OrchestrationJSON     `json:"data,omitempty"`
	Error         *OrchestratorErrorJSON `json:"error,omitempty"`
}

// OrchestrationJSON is a completed orchestration: the customer and the
// confirmed order.
type OrchestrationJSON struct {
	Customer OrchestratedCustomerJSON `json:"customer"`
	Order    OrchestratedOrderJSON    `json:"order"`
}

// OrchestratedCustomerJSON is the customer an order was placed for; an
// empty phone is null, as in customers-api.
type OrchestratedCustomerJSON struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Email string  `json:"email"`
	Phone *string `json:"phone"`
}

// OrchestratedOrderJSON is the confirmed order.
type OrchestratedOrderJSON struct {
	ID         string          `json:"id"`
	Status     ordering.Status `json:"status"`
	TotalCents int64           `json:"total_cents"`
	Items      []OrderItemJSON `json:"items"`
}

// OrchestratorErrorJSON says what went wrong. Details lists the invalid
// fields of a 400 and the short lines of an insufficient_stock; null
// otherwise.
type OrchestratorErrorJSON struct {
	Code    errs.Code `json:"code"`
	Message string    `json:"message"`
	Status  int       `json:"status"`
	Details any       `json:"details"`
}

// NewOrchestrationJSON renders a completed orchestration.
func NewOrchestrationJSON(r orchestration.Result) OrchestrationJSON {
	return OrchestrationJSON{Customer: orchestratedCustomer(r.Customer), Order: orchestratedOrder(r.Order)}
}

func orchestratedCustomer(c customer.Customer) OrchestratedCustomerJSON {
	out := OrchestratedCustomerJSON{ID: c.ID.String(), Name: c.Name, Email: c.Email}
	if c.Phone != "" {
		out.Phone = &c.Phone
	}
	return out
}

func orchestratedOrder(o ordering.Order) OrchestratedOrderJSON {
	out := OrchestratedOrderJSON{ID: o.ID.String(), Status: o.Status, TotalCents: o.TotalCents, Items: make([]OrderItemJSON, len(o.Items))}
	for i, it := range o.Items {
		out.Items[i] = OrderItemJSON{
			ProductID: it.ProductID.String(), Qty: it.Qty,
			UnitPriceCents: it.UnitPriceCents, SubtotalCents: it.SubtotalCents,
		}
	}
	return out
}

type orchestrateBody struct {
	CustomerID     string                `json:"customer_id"`
	Items          []orchestrateLineBody `json:"items"`
	IdempotencyKey string                `json:"idempotency_key"`
	CorrelationID  string                `json:"correlation_id"`
}

type orchestrateLineBody struct {
	ProductID string `json:"product_id"`
	Qty       int64  `json:"qty"`
}

// DefaultOrchestrationBudget bounds one orchestration when the caller sets
// no tighter deadline (a Lambda's remaining time is one).
const DefaultOrchestrationBudget = 20 * time.Second

// OrchestratorConfig tunes the orchestrator's handler.
type OrchestratorConfig struct {
	// Budget bounds a whole orchestration, every upstream call and retry
	// included; zero means DefaultOrchestrationBudget. Running out is
	// errs.DependencyTimeout, answered 504.
	Budget time.Duration
}

// orchestratorHandler serves the orchestrator.
type orchestratorHandler struct {
	svc  *orchestration.Service
	auth *Auth
	log  *slog.Logger
	cfg  OrchestratorConfig
}

// NewOrchestratorHandler returns the orchestrator's whole HTTP handler: the
// create-and-confirm endpoint under both its paths and the operational
// endpoints of ops, in the middleware the APIs run too, with every failure
// answered in the orchestrator's envelope. The same handler serves the local
// server and the Lambda.
func NewOrchestratorHandler(log *slog.Logger, ops Ops, auth *Auth, svc *orchestration.Service, cfg OrchestratorConfig) http.Handler {
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultOrchestrationBudget
	}
	h := &orchestratorHandler{svc: svc, auth: auth, log: log, cfg: cfg}
	conv := conventions{
		// The orchestrator's own header first: it is what its clients send.
		IDHeaders:  []string{"X-Correlation-ID", "X-Request-ID"},
		WriteError: h.fail,
	}
	return newService(log, ops, conv, func(r *mux.Router) {
		r.HandleFunc(OrchestratePath, h.orchestrate).Methods(http.MethodPost)
		r.HandleFunc(OrchestrateAliasPath, h.orchestrate).Methods(http.MethodPost)
	})
}

func (h *orchestratorHandler) orchestrate(w http.ResponseWriter, r *http.Request) {
	if _, err := h.auth.Authenticate(r); err != nil {
		h.fail(w, r, err)
		return
	}
	var body orchestrateBody
	read, err := readBody(w, r, &body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req := orchestration.Request{
		CustomerID:     body.CustomerID,
		Items:          make([]orchestration.Item, len(body.Items)),
		IdempotencyKey: body.IdempotencyKey,
		CorrelationID:  body.CorrelationID,
	}
	for i, it := range body.Items {
		req.Items[i] = orchestration.Item{ProductID: it.ProductID, Qty: it.Qty}
	}
	var res orchestration.Result
	if len(read) > 0 {
		// Members the body could not be read into, with what validation
		// finds in the others; nothing is called.
		err = joinFields(read, req.Validate())
	} else {
		ctx := r.Context()
		if body.CorrelationID != "" {
			// The body's id is forwarded with every call. The use case
			// checks it, with the rest of the request, before it calls
			// anything.
			ctx = correlation.WithID(ctx, body.CorrelationID)
		}
		ctx, cancel := context.WithTimeout(ctx, h.cfg.Budget)
		defer cancel()
		res, err = h.svc.CreateAndConfirm(ctx, req)
	}
	if len(read) == 0 && body.CorrelationID != "" && !refusesField(err, "correlation_id") {
		// From here on the body's id is the one in effect; a refused one,
		// or one in a body that could not be read whole, leaves the
		// headers' id in the answer.
		r = adoptRequestID(w, r, body.CorrelationID)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	data := NewOrchestrationJSON(res)
	respond(w, http.StatusCreated, OrchestratorEnvelope{Success: true, CorrelationID: RequestID(r.Context()), Data: &data})
}

// refusesField reports whether err is a validation failure naming field.
func refusesField(err error, field string) bool {
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Invalid {
		return false
	}
	for _, f := range e.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// orchestratorStatus is the status of an error code. It is the APIs' table
// but for a dependency that ran out of time: the orchestrator is a gateway
// to the two services, so a slow one is a 504 here rather than a 503.
func orchestratorStatus(code errs.Code) int {
	if code == errs.DependencyTimeout {
		return http.StatusGatewayTimeout
	}
	return StatusOf(code)
}

// fail answers with the envelope err stands for. Errors that carry no
// domain code are logged here, once, and reach the client as a bare
// "internal error".
func (h *orchestratorHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	id := RequestID(r.Context())
	var e *errs.Error
	if !errors.As(err, &e) {
		h.log.ErrorContext(r.Context(), "request failed", "request_id", id, "error", err.Error())
		e = &errs.Error{Code: errs.Internal, Message: "internal error"}
	}
	status := orchestratorStatus(e.Code)
	if status >= http.StatusInternalServerError && e.Code != errs.Internal {
		// The client sees only which service failed; the cause is for us.
		h.log.WarnContext(r.Context(), "dependency failed", "request_id", id, "code", string(e.Code), "error", err.Error())
	}
	switch status {
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		w.Header().Set("Retry-After", retryAfterSeconds)
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="b2b-orders"`)
	}
	var details any
	switch {
	case len(e.Fields) > 0:
		details = e.Fields
	case e.Details != nil:
		details = e.Details
	}
	respond(w, status, OrchestratorEnvelope{
		CorrelationID: id,
		Error:         &OrchestratorErrorJSON{Code: e.Code, Message: e.Message, Status: status, Details: details},
	})
}
