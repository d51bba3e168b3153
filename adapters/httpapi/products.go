package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/b2borders/platform/core/catalog"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/page"
)

// ProductJSON is a product on the wire.
type ProductJSON struct {
	ID         string `json:"id"`
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Stock      int64  `json:"stock"`
	Version    int64  `json:"version"`
	CreatedAt  string `json:"created_at"`
	UpdatedAt  string `json:"updated_at"`
}

// NewProductJSON renders a product.
func NewProductJSON(p catalog.Product) ProductJSON {
	return ProductJSON{
		ID: p.ID.String(), SKU: p.SKU, Name: p.Name, PriceCents: p.PriceCents, Stock: p.Stock,
		Version: p.Version, CreatedAt: timeJSON(p.CreatedAt), UpdatedAt: timeJSON(p.UpdatedAt),
	}
}

// RenderProduct is a product's body as GET /products/{id} answers it
// (without the final newline): the payload of its events.
func RenderProduct(p catalog.Product) ([]byte, error) {
	return json.Marshal(NewProductJSON(p))
}

// ETag is a product version as a strong entity tag: the version changes with
// every write, so equal tags mean byte-identical representations.
func ETag(version int64) string {
	return `"` + strconv.FormatInt(version, 10) + `"`
}

type productBody struct {
	SKU        *string `json:"sku"`
	Name       *string `json:"name"`
	PriceCents *int64  `json:"price_cents"`
	Stock      *int64  `json:"stock"`
}

type productPatch struct {
	Name       Optional[string] `json:"name"`
	PriceCents Optional[int64]  `json:"price_cents"`
	Stock      Optional[int64]  `json:"stock"`
}

// ProductHandler serves the catalogue part of the orders API.
type ProductHandler struct {
	svc     *catalog.Service
	cursors page.Codec
}

// NewProductHandler returns the handler over svc, signing list cursors with
// cursors.
func NewProductHandler(svc *catalog.Service, cursors page.Codec) *ProductHandler {
	return &ProductHandler{svc: svc, cursors: cursors}
}

// Register mounts the product routes.
func (h *ProductHandler) Register(r *mux.Router, a *Auth) {
	api := r.NewRoute().Subrouter()
	api.Use(a.RequireCaller)
	api.Handle("/products", handlerFunc(h.create)).Methods(http.MethodPost)
	api.Handle("/products", handlerFunc(h.search)).Methods(http.MethodGet)
	api.Handle("/products/{id}", handlerFunc(h.get)).Methods(http.MethodGet)
	api.Handle("/products/{id}", handlerFunc(h.patch)).Methods(http.MethodPatch)
	api.Handle("/products/{id}/stock-adjustments", handlerFunc(h.adjust)).Methods(http.MethodPost)
	api.Handle("/products/{id}/movements", handlerFunc(h.movements)).Methods(http.MethodGet)
}

// MovementJSON is a stock movement on the wire.
type MovementJSON struct {
	ID        string       `json:"id"`
	ProductID string       `json:"product_id"`
	Delta     int64        `json:"delta"`
	Kind      catalog.Kind `json:"kind"`
	Reason    string       `json:"reason"`
	OrderID   *string      `json:"order_id"`
	Actor     string       `json:"actor"`
	RequestID *string      `json:"request_id"`
	CreatedAt string       `json:"created_at"`
}

// NewMovementJSON renders a stock movement.
func NewMovementJSON(m catalog.Movement) MovementJSON {
	out := MovementJSON{
		ID: m.ID.String(), ProductID: m.ProductID.String(), Delta: m.Delta, Kind: m.Kind, Reason: m.Reason,
		Actor: m.Actor, RequestID: optionalString(m.RequestID), CreatedAt: timeJSON(m.CreatedAt),
	}
	if m.OrderID != uuid.Nil {
		id := m.OrderID.String()
		out.OrderID = &id
	}
	return out
}

// optionalString is s, or null when it is empty.
func optionalString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type adjustmentBody struct {
	Delta  *int64  `json:"delta"`
	Reason *string `json:"reason"`
}

// adjust moves a product's stock relatively; 200 with the product, as a
// PATCH answers, since the product is what changed (the movement is listed
// under /movements).
func (h *ProductHandler) adjust(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "product")
	if err != nil {
		return err
	}
	var body adjustmentBody
	fe, err := readBody(w, r, &body)
	if err != nil {
		return err
	}
	if body.Delta == nil {
		fe.Add("delta", "is required")
	}
	if body.Reason == nil {
		fe.Add("reason", "is required")
	}
	a := catalog.Adjustment{ProductID: id, Reason: strings.TrimSpace(deref(body.Reason))}
	if body.Delta != nil {
		a.Delta = *body.Delta
	}
	if err := mergeFields(fe, a.Validate()); err != nil {
		return err
	}
	p, err := h.svc.Adjust(r.Context(), a)
	if err != nil {
		return err
	}
	respondProduct(w, http.StatusOK, p)
	return nil
}

func (h *ProductHandler) movements(w http.ResponseWriter, r *http.Request) error {
	return respondHistory(w, r, "product", h.cursors, func(id uuid.UUID, req page.Request) (page.Page[catalog.Movement], error) {
		return h.svc.Movements(r.Context(), catalog.MovementQuery{ProductID: id, Page: req})
	}, NewMovementJSON)
}

// respondHistory answers a page of the records of the resource what named
// by the path's id (a product's movements, an order's events), listed by
// list and rendered by conv: 404 for an unknown resource, 400 for a bad
// limit or cursor.
func respondHistory[T, J any](w http.ResponseWriter, r *http.Request, what string, cursors page.Codec,
	list func(uuid.UUID, page.Request) (page.Page[T], error), conv func(T) J) error {
	id, err := pathID(r, what)
	if err != nil {
		return err
	}
	var fe errs.Fields
	req := pageRequest(r, cursors, &fe)
	if err := fe.Err(); err != nil {
		return err
	}
	p, err := list(id, req)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, listJSON(cursors, p, conv))
	return nil
}

func respondProduct(w http.ResponseWriter, status int, p catalog.Product) {
	w.Header().Set("ETag", ETag(p.Version))
	respond(w, status, NewProductJSON(p))
}

func (h *ProductHandler) create(w http.ResponseWriter, r *http.Request) error {
	var body productBody
	fe, err := readBody(w, r, &body)
	if err != nil {
		return err
	}
	if body.SKU == nil {
		fe.Add("sku", "is required")
	}
	if body.Name == nil {
		fe.Add("name", "is required")
	}
	if body.PriceCents == nil {
		fe.Add("price_cents", "is required")
	}
	if body.Stock == nil {
		fe.Add("stock", "is required")
	}
	// Trimmed as the use case trims them, so that a blank name is reported
	// together with the other fields.
	n := catalog.NewProduct{SKU: strings.TrimSpace(deref(body.SKU)), Name: strings.TrimSpace(deref(body.Name))}
	if body.PriceCents != nil {
		n.PriceCents = *body.PriceCents
	}
	if body.Stock != nil {
		n.Stock = *body.Stock
	}
	if err := mergeFields(fe, n.Validate()); err != nil {
		return err
	}
	p, err := h.svc.Create(r.Context(), n)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/products/"+p.ID.String())
	respondProduct(w, http.StatusCreated, p)
	return nil
}

// get answers 304 to an If-None-Match that names the current version, so a
// client polling a product pays for the body only when it changed.
func (h *ProductHandler) get(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "product")
	if err != nil {
		return err
	}
	p, err := h.svc.Get(r.Context(), id)
	if err != nil {
		return err
	}
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 && noneMatchHits(inm, p.Version) {
		w.Header().Set("ETag", ETag(p.Version))
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	respondProduct(w, http.StatusOK, p)
	return nil
}

func (h *ProductHandler) search(w http.ResponseWriter, r *http.Request) error {
	var fe errs.Fields
	q := catalog.Query{Search: r.URL.Query().Get("search"), Page: pageRequest(r, h.cursors, &fe)}
	if err := fe.Err(); err != nil {
		return err
	}
	p, err := h.svc.Search(r.Context(), q)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, listJSON(h.cursors, p, NewProductJSON))
	return nil
}

func (h *ProductHandler) patch(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "product")
	if err != nil {
		return err
	}
	var body productPatch
	fe, err := readBody(w, r, &body)
	if err != nil {
		return err
	}
	var p catalog.Patch
	for _, f := range []struct {
		name string
		null bool
	}{{"name", body.Name.Null}, {"price_cents", body.PriceCents.Null}, {"stock", body.Stock.Null}} {
		if f.null {
			fe.Add(f.name, "cannot be null")
		}
	}
	if body.Name.Set && !body.Name.Null {
		name := strings.TrimSpace(body.Name.Value)
		p.Name = &name
	}
	if body.PriceCents.Set && !body.PriceCents.Null {
		p.PriceCents = &body.PriceCents.Value
	}
	if body.Stock.Set && !body.Stock.Null {
		p.Stock = &body.Stock.Value
	}
	if len(fe) > 0 {
		// A null is a field the client did send, so the body is not empty:
		// report the nulls and the other bad fields, not "set one".
		return mergeFields(fe, p.Validate(), "body")
	}
	if im := r.Header.Get("If-Match"); im != "" {
		v, unconditional, err := h.ifMatchVersion(r, id, r.Header.Values("If-Match"))
		if err != nil {
			return err
		}
		if !unconditional {
			p.IfVersion = &v
		}
	}
	prod, err := h.svc.Update(r.Context(), id, p)
	if err != nil {
		return err
	}
	respondProduct(w, http.StatusOK, prod)
	return nil
}

// ifMatchVersion turns an If-Match header into the version a PATCH is
// conditional on; unconditional reports "*". Entity tags are compared as
// strings, strongly (RFC 9110 §13.1.1): a weak tag, a foreign one, one that
// spells a version another way ("05", "+5") and a header that is not a list
// of tags never match. A list of several tags is matched against the
// current version, which the update then requires, so a write that slips in
// between still fails the condition.
func (h *ProductHandler) ifMatchVersion(r *http.Request, id uuid.UUID, lines []string) (v int64, unconditional bool, err error) {
	tags, anyTag, _ := parseConditional(lines)
	if anyTag {
		return 0, true, nil
	}
	var versions []int64
	for _, t := range tags {
		if n, ok := etagVersion(t); ok {
			versions = append(versions, n)
		}
	}
	mismatch := errs.New(errs.PreconditionFailed, "the product does not match If-Match %s", strings.Join(lines, ", "))
	switch len(versions) {
	case 0:
		return 0, false, mismatch
	case 1:
		return versions[0], false, nil
	}
	cur, err := h.svc.Get(r.Context(), id)
	if err != nil {
		return 0, false, err
	}
	for _, n := range versions {
		if n == cur.Version {
			return n, false, nil
		}
	}
	return 0, false, mismatch
}

// etagVersion returns the version whose ETag strongly matches t: the one
// whose tag is the same string.
func etagVersion(t entityTag) (int64, bool) {
	if len(t.opaque) < 3 {
		return 0, false
	}
	n, err := strconv.ParseInt(t.opaque[1:len(t.opaque)-1], 10, 64)
	return n, err == nil && n > 0 && t.strongMatch(ETag(n))
}

// noneMatchHits reports whether an If-None-Match header names version's
// tag or is "*"; it compares weakly, as RFC 9110 §13.1.2 asks. A header
// that is not a list of tags names nothing, so the body is sent.
func noneMatchHits(lines []string, version int64) bool {
	tags, anyTag, _ := parseConditional(lines)
	if anyTag {
		return true
	}
	for _, t := range tags {
		if t.weakMatch(ETag(version)) {
			return true
		}
	}
	return false
}

// mergeFields joins field errors found while reading a body with those
// validation finds, leaving out validation's report on a field already
// reported and on the skipped ones, so that every bad field is named, once.
func mergeFields(read errs.Fields, validation error, skip ...string) error {
	e, ok := validation.(*errs.Error)
	if validation != nil && !ok {
		return validation
	}
	out := read
	if e != nil {
		seen := make(map[string]bool, len(read)+len(skip))
		for _, f := range skip {
			seen[f] = true
		}
		for _, f := range read {
			seen[f.Field] = true
		}
		for _, f := range e.Fields {
			if !seen[f.Field] {
				out = append(out, f)
			}
		}
	}
	return out.Err()
}
