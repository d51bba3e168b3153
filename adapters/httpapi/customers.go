package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/page"
)

// CustomerJSON is a customer on the wire.
type CustomerJSON struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Email     string  `json:"email"`
	Phone     *string `json:"phone"`
	CreatedAt string  `json:"created_at"`
	UpdatedAt string  `json:"updated_at"`
}

// NewCustomerJSON renders a customer; an empty phone is null.
func NewCustomerJSON(c customer.Customer) CustomerJSON {
	out := CustomerJSON{
		ID: c.ID.String(), Name: c.Name, Email: c.Email,
		CreatedAt: timeJSON(c.CreatedAt), UpdatedAt: timeJSON(c.UpdatedAt),
	}
	if c.Phone != "" {
		out.Phone = &c.Phone
	}
	return out
}

type customerBody struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
	Phone *string `json:"phone"`
}

// fields reads a create or replace body; a missing field is empty, which
// validation then reports.
func (b customerBody) fields() customer.Fields {
	return customer.Fields{Name: deref(b.Name), Email: deref(b.Email), Phone: deref(b.Phone)}
}

// readCustomer reads a create or replace body. Members it cannot read are
// reported together with what validation finds in the others.
func readCustomer(w http.ResponseWriter, r *http.Request) (customer.Fields, error) {
	var body customerBody
	read, err := readBody(w, r, &body)
	if err != nil {
		return customer.Fields{}, err
	}
	f := body.fields()
	if len(read) > 0 {
		return f, joinFields(read, f.Validate())
	}
	return f, nil
}

type customerPatch struct {
	Name  Optional[string] `json:"name"`
	Email Optional[string] `json:"email"`
	Phone Optional[string] `json:"phone"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// CustomerHandler serves the customers API.
type CustomerHandler struct {
	svc     *customer.Service
	cursors page.Codec
}

// NewCustomerHandler returns the handler over svc, signing list cursors with
// cursors.
func NewCustomerHandler(svc *customer.Service, cursors page.Codec) *CustomerHandler {
	return &CustomerHandler{svc: svc, cursors: cursors}
}

// Register mounts the customer routes.
func (h *CustomerHandler) Register(r *mux.Router, a *Auth) {
	api := r.NewRoute().Subrouter()
	api.Use(a.RequireCaller)
	api.Handle("/customers", handlerFunc(h.create)).Methods(http.MethodPost)
	api.Handle("/customers", handlerFunc(h.search)).Methods(http.MethodGet)
	api.Handle("/customers/{id}", handlerFunc(h.get)).Methods(http.MethodGet)
	api.Handle("/customers/{id}", handlerFunc(h.replace)).Methods(http.MethodPut)
	api.Handle("/customers/{id}", handlerFunc(h.patch)).Methods(http.MethodPatch)
	api.Handle("/customers/{id}", handlerFunc(h.delete)).Methods(http.MethodDelete)

	internal := r.PathPrefix("/internal").Subrouter()
	internal.Use(a.RequireService)
	internal.Handle("/customers/{id}", handlerFunc(h.get)).Methods(http.MethodGet)
}

func (h *CustomerHandler) create(w http.ResponseWriter, r *http.Request) error {
	f, err := readCustomer(w, r)
	if err != nil {
		return err
	}
	c, err := h.svc.Create(r.Context(), f)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/customers/"+c.ID.String())
	respond(w, http.StatusCreated, NewCustomerJSON(c))
	return nil
}

func (h *CustomerHandler) get(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "customer")
	if err != nil {
		return err
	}
	c, err := h.svc.Get(r.Context(), id)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, NewCustomerJSON(c))
	return nil
}

func (h *CustomerHandler) search(w http.ResponseWriter, r *http.Request) error {
	var fe errs.Fields
	q := customer.Query{Search: r.URL.Query().Get("search"), Page: pageRequest(r, h.cursors, &fe)}
	if err := fe.Err(); err != nil {
		return err
	}
	p, err := h.svc.Search(r.Context(), q)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, listJSON(h.cursors, p, NewCustomerJSON))
	return nil
}

func (h *CustomerHandler) replace(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "customer")
	if err != nil {
		return err
	}
	f, err := readCustomer(w, r)
	if err != nil {
		return err
	}
	c, err := h.svc.Replace(r.Context(), id, f)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, NewCustomerJSON(c))
	return nil
}

func (h *CustomerHandler) patch(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "customer")
	if err != nil {
		return err
	}
	var body customerPatch
	fe, err := readBody(w, r, &body)
	if err != nil {
		return err
	}
	if body.Name.Null {
		fe.Add("name", "cannot be null")
	}
	if body.Email.Null {
		fe.Add("email", "cannot be null")
	}
	var p customer.Patch
	if body.Name.Set {
		p.Name = &body.Name.Value
	}
	if body.Email.Set {
		p.Email = &body.Email.Value
	}
	if body.Phone.Set {
		// null clears the phone, like an empty string.
		p.Phone = &body.Phone.Value
	}
	if len(fe) > 0 {
		// A member the client sent, refused or not, makes the body not
		// empty: report it with the other fields, not "set one".
		return joinFields(fe, p.Validate(), "body")
	}
	c, err := h.svc.Update(r.Context(), id, p)
	if err != nil {
		return err
	}
	respond(w, http.StatusOK, NewCustomerJSON(c))
	return nil
}

func (h *CustomerHandler) delete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "customer")
	if err != nil {
		return err
	}
	if err := h.svc.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
