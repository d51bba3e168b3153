package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/ordering"
	"github.com/b2borders/platform/core/page"
)

// OrderJSON is an order on the wire.
type OrderJSON struct {
	ID          string          `json:"id"`
	CustomerID  string          `json:"customer_id"`
	Status      ordering.Status `json:"status"`
	TotalCents  int64           `json:"total_cents"`
	Items       []OrderItemJSON `json:"items"`
	CreatedAt   string          `json:"created_at"`
	UpdatedAt   string          `json:"updated_at"`
	ConfirmedAt *string         `json:"confirmed_at"`
	CanceledAt  *string         `json:"canceled_at"`
	// ExpiresAt is the deadline of a CREATED order's reservation; null
	// once it is confirmed, canceled or expired, and when it has none.
	ExpiresAt *string `json:"expires_at"`
}

// OrderItemJSON is one line of an order on the wire.
type OrderItemJSON struct {
	ProductID      string `json:"product_id"`
	Qty            int64  `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	SubtotalCents  int64  `json:"subtotal_cents"`
}

// NewOrderJSON renders an order with its items.
func NewOrderJSON(o ordering.Order) OrderJSON {
	out := OrderJSON{
		ID: o.ID.String(), CustomerID: o.CustomerID.String(), Status: o.Status, TotalCents: o.TotalCents,
		Items:     make([]OrderItemJSON, len(o.Items)),
		CreatedAt: timeJSON(o.CreatedAt), UpdatedAt: timeJSON(o.UpdatedAt),
		ConfirmedAt: optionalTimeJSON(o.ConfirmedAt), CanceledAt: optionalTimeJSON(o.CanceledAt),
	}
	if o.Status == ordering.Created {
		out.ExpiresAt = optionalTimeJSON(o.ExpiresAt)
	}
	for i, it := range o.Items {
		out.Items[i] = OrderItemJSON{
			ProductID: it.ProductID.String(), Qty: it.Qty,
			UnitPriceCents: it.UnitPriceCents, SubtotalCents: it.SubtotalCents,
		}
	}
	return out
}

func optionalTimeJSON(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeJSON(*t)
	return &s
}

type orderBody struct {
	CustomerID *string         `json:"customer_id"`
	Items      []orderLineBody `json:"items"`
}

type orderLineBody struct {
	ProductID *string `json:"product_id"`
	Qty       *int64  `json:"qty"`
}

// Headers of the idempotent commands.
const (
	HeaderIdempotencyKey  = "Idempotency-Key"
	HeaderXIdempotencyKey = "X-Idempotency-Key"
	HeaderReplayed        = "Idempotent-Replayed"
)

// OrderHandler serves the orders part of the orders API.
type OrderHandler struct {
	svc     *ordering.Service
	cursors page.Codec
}

// NewOrderHandler returns the handler over svc, signing list cursors with
// cursors.
func NewOrderHandler(svc *ordering.Service, cursors page.Codec) *OrderHandler {
	return &OrderHandler{svc: svc, cursors: cursors}
}

// Register mounts the order routes.
func (h *OrderHandler) Register(r *mux.Router, a *Auth) {
	api := r.NewRoute().Subrouter()
	api.Use(a.RequireCaller)
	api.Handle("/orders", handlerFunc(h.place)).Methods(http.MethodPost)
	api.Handle("/orders", handlerFunc(h.search)).Methods(http.MethodGet)
	api.Handle("/orders/{id}", handlerFunc(h.get)).Methods(http.MethodGet)
	api.Handle("/orders/{id}/confirm", handlerFunc(h.confirm)).Methods(http.MethodPost)
	api.Handle("/orders/{id}/cancel", handlerFunc(h.cancel)).Methods(http.MethodPost)
	api.Handle("/orders/{id}/events", handlerFunc(h.events)).Methods(http.MethodGet)
}

// OrderEventJSON is one event of an order's history on the wire.
type OrderEventJSON struct {
	ID        string             `json:"id"`
	OrderID   string             `json:"order_id"`
	Type      ordering.EventType `json:"type"`
	Actor     string             `json:"actor"`
	RequestID *string            `json:"request_id"`
	CreatedAt string             `json:"created_at"`
}

// NewOrderEventJSON renders an order event.
func NewOrderEventJSON(e ordering.Event) OrderEventJSON {
	return OrderEventJSON{
		ID: e.ID.String(), OrderID: e.OrderID.String(), Type: e.Type, Actor: e.Actor,
		RequestID: optionalString(e.RequestID), CreatedAt: timeJSON(e.CreatedAt),
	}
}

func (h *OrderHandler) events(w http.ResponseWriter, r *http.Request) error {
	return respondHistory(w, r, "order", h.cursors, func(id uuid.UUID, req page.Request) (page.Page[ordering.Event], error) {
		return h.svc.Events(r.Context(), ordering.EventQuery{OrderID: id, Page: req})
	}, NewOrderEventJSON)
}

// parseUUID reads a required id field, reporting a missing or malformed one.
func parseUUID(fe *errs.Fields, field string, raw *string) uuid.UUID {
	if raw == nil || *raw == "" {
		fe.Add(field, "is required")
		return uuid.Nil
	}
	id, err := uuid.Parse(*raw)
	if err != nil || id == uuid.Nil {
		fe.Add(field, "must be a UUID")
		return uuid.Nil
	}
	return id
}

// placeRequest reads a POST /orders body. Every problem with it, the
// members the body could not be read into (read), those seen while reading
// ids and those the use case's validation finds, is reported at once.
// A key header sent empty is a client bug, not a request without a key.
func placeRequest(body orderBody, read errs.Fields, key string, keySent bool) (ordering.PlaceRequest, error) {
	var fe errs.Fields
	if keySent && key == "" {
		fe.Add(HeaderIdempotencyKey, "must not be empty")
	}
	req := ordering.PlaceRequest{
		CustomerID:     parseUUID(&fe, "customer_id", body.CustomerID),
		Lines:          make([]ordering.Line, len(body.Items)),
		IdempotencyKey: key,
	}
	for i, it := range body.Items {
		req.Lines[i].ProductID = parseUUID(&fe, fmt.Sprintf("items[%d].product_id", i), it.ProductID)
		if it.Qty == nil {
			fe.Add(fmt.Sprintf("items[%d].qty", i), "is required")
		} else {
			req.Lines[i].Qty = *it.Qty
		}
	}
	_, err := req.Draft()
	return req, joinFields(read, joinFields(fe, keyFieldAs(err, HeaderIdempotencyKey)))
}

// keyFieldAs names the idempotency key in a validation error by the header
// that carries it on this transport.
func keyFieldAs(err error, header string) error {
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Invalid {
		return err
	}
	for i, f := range e.Fields {
		if f.Field == ordering.IdempotencyKeyField {
			e.Fields[i].Field = header
		}
	}
	return err
}

func (h *OrderHandler) place(w http.ResponseWriter, r *http.Request) error {
	var body orderBody
	read, err := readBody(w, r, &body)
	if err != nil {
		return err
	}
	key, sent := r.Header[http.CanonicalHeaderKey(HeaderIdempotencyKey)]
	req, err := placeRequest(body, read, strings.Join(key, ","), sent)
	if err != nil {
		return err
	}
	o, replayed, err := h.svc.Place(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/orders/"+o.ID.String())
	if replayed {
		w.Header().Set(HeaderReplayed, "true")
	}
	respond(w, http.StatusCreated, NewOrderJSON(o))
	return nil
}

func (h *OrderHandler) get(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "order")
	if err != nil {
		return err
	}
	o, err := h.svc.Get(r.Context(), id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, NewOrderJSON(o))
	return nil
}

// parseTime reads an RFC 3339 query time. A "+" in an offset that was not
// percent-encoded arrives as a space; it is read as the "+" it must have been.
func parseTime(fe *errs.Fields, field, raw string) time.Time {
	if raw == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		t, err = time.Parse(time.RFC3339Nano, strings.Replace(raw, " ", "+", 1))
	}
	if err != nil {
		fe.Add(field, "must be an RFC 3339 time such as 2025-01-31T23:59:59Z")
	}
	return t.UTC()
}

func (h *OrderHandler) search(w http.ResponseWriter, r *http.Request) error {
	qs := r.URL.Query()
	var fe errs.Fields
	q := ordering.Query{Page: pageRequest(r, h.cursors, &fe)}
	if s := qs.Get("status"); s != "" {
		st, ok := ordering.ParseStatus(s)
		if !ok {
			fe.Add("status", "must be one of %s, %s, %s, %s", ordering.Created, ordering.Confirmed, ordering.Canceled, ordering.Expired)
		}
		q.Status = st
	}
	if s := qs.Get("customer_id"); s != "" {
		q.CustomerID = parseUUID(&fe, "customer_id", &s)
	}
	q.From = parseTime(&fe, "from", qs.Get("from"))
	q.To = parseTime(&fe, "to", qs.Get("to"))
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		fe.Add("to", "must not be before from")
	}
	if err := fe.Err(); err != nil {
		return err
	}
	p, err := h.svc.Search(r.Context(), q)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, listJSON(h.cursors, p, NewOrderJSON))
	return nil
}

// RenderOrder is an order's body as GET /orders/{id} answers it (without the
// final newline): the confirm response stored with its key, which every
// replay returns byte for byte, and the payload of the order's events.
func RenderOrder(o ordering.Order) ([]byte, error) {
	return json.Marshal(NewOrderJSON(o))
}

// confirmKey reads the confirm command's key from X-Idempotency-Key, or from
// Idempotency-Key when only that is sent, and names the header it came in.
func confirmKey(r *http.Request) (key, header string) {
	if k := r.Header.Get(HeaderXIdempotencyKey); k != "" {
		return k, HeaderXIdempotencyKey
	}
	if k := r.Header.Get(HeaderIdempotencyKey); k != "" {
		return k, HeaderIdempotencyKey
	}
	return "", HeaderXIdempotencyKey
}

func (h *OrderHandler) confirm(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "order")
	if err != nil {
		return err
	}
	key, header := confirmKey(r)
	c, err := h.svc.Confirm(r.Context(), id, key, RenderOrder)
	if err != nil {
		return keyFieldAs(err, header)
	}
	if c.Replayed {
		w.Header().Set(HeaderReplayed, "true")
	}
	writeBody(w, http.StatusOK, "application/json", c.Body)
	return nil
}

func (h *OrderHandler) cancel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "order")
	if err != nil {
		return err
	}
	o, err := h.svc.Cancel(r.Context(), id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, NewOrderJSON(o))
	return nil
}
