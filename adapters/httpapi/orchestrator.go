package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
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
	// OpenAPI is the document served at /openapi.yaml.
	OpenAPI []byte
}

// orchestratorHandler serves the orchestrator.
type orchestratorHandler struct {
	svc  *orchestration.Service
	auth *Auth
	log  *slog.Logger
	cfg  OrchestratorConfig
}

// exchangeKey holds the *exchange of the request being served.
type exchangeKey struct{}

// exchange is what the outer middleware learns from the handler, for the
// access log: the correlation id can come from the body, so it is known
// only once the body is read.
type exchange struct {
	id    string
	route string
}

// NewOrchestratorHandler returns the orchestrator's whole HTTP handler: the
// create-and-confirm endpoint under both its paths, GET /health and GET
// /openapi.yaml. The same handler serves the local server and the Lambda.
func NewOrchestratorHandler(log *slog.Logger, auth *Auth, svc *orchestration.Service, cfg OrchestratorConfig) http.Handler {
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultOrchestrationBudget
	}
	h := &orchestratorHandler{svc: svc, auth: auth, log: log, cfg: cfg}
	r := mux.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if x, ok := r.Context().Value(exchangeKey{}).(*exchange); ok {
				if t, err := mux.CurrentRoute(r).GetPathTemplate(); err == nil {
					x.route = t
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	r.HandleFunc(OrchestratePath, h.orchestrate).Methods(http.MethodPost)
	r.HandleFunc(OrchestrateAliasPath, h.orchestrate).Methods(http.MethodPost)
	r.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		respond(w, http.StatusOK, map[string]string{"status": "ok"})
	}).Methods(http.MethodGet)
	r.HandleFunc("/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		writeBody(w, http.StatusOK, "application/yaml", cfg.OpenAPI)
	}).Methods(http.MethodGet)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, errs.New(errs.NotFound, "no such endpoint: %s", r.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.writeEnvelope(w, r, http.StatusMethodNotAllowed, OrchestratorEnvelope{
			CorrelationID: exchangeOf(r).id,
			Error: &OrchestratorErrorJSON{
				Code: "method_not_allowed", Message: r.Method + " is not allowed on " + r.URL.Path, Status: http.StatusMethodNotAllowed,
			},
		})
	})
	return h.observe(r)
}

func exchangeOf(r *http.Request) *exchange {
	if x, ok := r.Context().Value(exchangeKey{}).(*exchange); ok {
		return x
	}
	return &exchange{}
}

// headerCorrelationID is the id a request names in its headers, the
// orchestrator's own header first, or a new one.
func headerCorrelationID(r *http.Request) string {
	for _, h := range []string{"X-Correlation-ID", "X-Request-ID"} {
		if id := r.Header.Get(h); correlation.Valid(id) {
			return id
		}
	}
	return uuid.NewString()
}

// observe assigns the correlation id known from the headers, recovers
// panics, and logs every request once it is done.
func (h *orchestratorHandler) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		x := &exchange{id: headerCorrelationID(r), route: "unmatched"}
		ctx := context.WithValue(correlation.WithID(r.Context(), x.id), exchangeKey{}, x)
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.log.ErrorContext(ctx, "panic", "request_id", x.id, "panic", fmt.Sprint(p))
				if rec.status == 0 {
					h.fail(rec, r, errs.New(errs.Internal, "internal error"))
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			h.log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("request_id", x.id),
				slog.String("method", r.Method),
				slog.String("route", x.route),
				slog.Int("status", status),
				slog.Int("bytes", rec.bytes),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			)
		}()
		next.ServeHTTP(rec, r)
	})
}

func (h *orchestratorHandler) orchestrate(w http.ResponseWriter, r *http.Request) {
	if _, err := h.auth.Authenticate(r); err != nil {
		h.fail(w, r, err)
		return
	}
	var body orchestrateBody
	if err := decode(w, r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	x := exchangeOf(r)
	if correlation.Valid(body.CorrelationID) {
		x.id = body.CorrelationID
	}
	ctx, cancel := context.WithTimeout(correlation.WithID(r.Context(), x.id), h.cfg.Budget)
	defer cancel()
	r = r.WithContext(ctx)

	req := orchestration.Request{
		CustomerID:     body.CustomerID,
		Items:          make([]orchestration.Item, len(body.Items)),
		IdempotencyKey: body.IdempotencyKey,
		CorrelationID:  body.CorrelationID,
	}
	for i, it := range body.Items {
		req.Items[i] = orchestration.Item{ProductID: it.ProductID, Qty: it.Qty}
	}
	res, err := h.svc.CreateAndConfirm(ctx, req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	data := NewOrchestrationJSON(res)
	h.writeEnvelope(w, r, http.StatusCreated, OrchestratorEnvelope{Success: true, CorrelationID: x.id, Data: &data})
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
	id := exchangeOf(r).id
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
	h.writeEnvelope(w, r, status, OrchestratorEnvelope{
		CorrelationID: id,
		Error:         &OrchestratorErrorJSON{Code: e.Code, Message: e.Message, Status: status, Details: details},
	})
}

func (h *orchestratorHandler) writeEnvelope(w http.ResponseWriter, r *http.Request, status int, env OrchestratorEnvelope) {
	w.Header().Set("X-Correlation-ID", env.CorrelationID)
	w.Header().Set("X-Request-ID", env.CorrelationID)
	respond(w, status, env)
}
