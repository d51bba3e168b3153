package orchestrator_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/b2borders/platform/adapters/httpapi"
	wire "github.com/b2borders/platform/apps/wire/orchestrator"
	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/orchestrator"
)

const (
	route = "/orchestrator/create-and-confirm-order"
	alias = "/orchestrate-order"
)

// envelope is every orchestrator answer.
type envelope struct {
	Success       bool   `json:"success"`
	CorrelationID string `json:"correlationId"`
	Data          *struct {
		Customer orchestrator.Customer `json:"customer"`
		Order    struct {
			ID         string `json:"id"`
			Status     string `json:"status"`
			TotalCents int64  `json:"total_cents"`
			Items      []struct {
				ProductID      string `json:"product_id"`
				Qty            int64  `json:"qty"`
				UnitPriceCents int64  `json:"unit_price_cents"`
				SubtotalCents  int64  `json:"subtotal_cents"`
			} `json:"items"`
		} `json:"order"`
	} `json:"data"`
	Error *struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Status  int             `json:"status"`
		Details json.RawMessage `json:"details"`
	} `json:"error"`
}

// boot starts an orchestrator with cfg and returns a client that acts with
// token and checks every exchange against the orchestrator's OpenAPI
// document.
func boot(t *testing.T, cfg wire.Config, token string) *apptest.Client {
	t.Helper()
	url, _ := apptest.Boot(t, wire.Module(cfg, apptest.Logger()))
	return &apptest.Client{
		Base:  url,
		Token: token,
		HTTP:  &http.Client{Transport: apptest.ValidatingTransport(t, httpapi.OrchestratorOpenAPI)},
	}
}

func line(productID string, qty int64) map[string]any {
	return map[string]any{"product_id": productID, "qty": qty}
}

func request(customerID, key string, lines ...map[string]any) map[string]any {
	return map[string]any{"customer_id": customerID, "items": lines, "idempotency_key": key}
}

// ok expects a 201 and returns its envelope.
func ok(t *testing.T, r *apptest.Response) envelope {
	t.Helper()
	r.Want(t, http.StatusCreated)
	var e envelope
	r.JSON(t, &e)
	if !e.Success || e.Data == nil || e.Error != nil {
		t.Fatalf("body %s, want success with data", r.Body)
	}
	checkCorrelation(t, r, e)
	return e
}

// failed expects an error envelope with status and code.
func failed(t *testing.T, r *apptest.Response, status int, code string) envelope {
	t.Helper()
	r.Want(t, status)
	var e envelope
	r.JSON(t, &e)
	if e.Success || e.Data != nil || e.Error == nil || e.Error.Code != code || e.Error.Status != status || e.Error.Message == "" {
		t.Fatalf("body %s, want an error %s with status %d", r.Body, code, status)
	}
	checkCorrelation(t, r, e)
	return e
}

func checkCorrelation(t *testing.T, r *apptest.Response, e envelope) {
	t.Helper()
	if e.CorrelationID == "" || r.Header.Get("X-Correlation-ID") != e.CorrelationID || r.Header.Get("X-Request-ID") != e.CorrelationID {
		t.Fatalf("correlationId %q, X-Correlation-ID %q, X-Request-ID %q: want one id in all three",
			e.CorrelationID, r.Header.Get("X-Correlation-ID"), r.Header.Get("X-Request-ID"))
	}
}

func fieldsOf(t *testing.T, details json.RawMessage) []string {
	t.Helper()
	var fe []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(details, &fe); err != nil {
		t.Fatalf("details %s are not field errors: %v", details, err)
	}
	var out []string
	for _, f := range fe {
		out = append(out, f.Field)
	}
	slices.Sort(out)
	return out
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestCreateAndConfirm(t *testing.T) {
	s := orchestrator.NewStack(t)
	for _, tc := range []struct {
		name, path, token string
	}{
		{"operator JWT", route, apptest.OperatorToken(t)},
		{"service token on the alias", alias, apptest.ServiceToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.NewCustomer(t, "ACME", "+1 555 0100")
			p1, p2 := s.NewProduct(t, 129900, 10), s.NewProduct(t, 250, 5)
			o := boot(t, s.Config(), tc.token)
			custBefore, ordersBefore := len(s.CustomersProxy.Seen()), len(s.OrdersProxy.Seen())

			body := request(c.ID, "key-"+uuid.NewString(), line(p1, 3), line(p2, 2))
			body["correlation_id"] = "req-789"
			r := o.Do(t, http.MethodPost, tc.path, body)
			e := ok(t, r)

			// The exact shape: nothing more, nothing less.
			var raw map[string]any
			r.JSON(t, &raw)
			data := raw["data"].(map[string]any)
			order := data["order"].(map[string]any)
			item := order["items"].([]any)[0].(map[string]any)
			for _, got := range []struct {
				what string
				keys []string
				want []string
			}{
				{"body", keys(raw), []string{"correlationId", "data", "success"}},
				{"data", keys(data), []string{"customer", "order"}},
				{"customer", keys(data["customer"].(map[string]any)), []string{"email", "id", "name", "phone"}},
				{"order", keys(order), []string{"id", "items", "status", "total_cents"}},
				{"item", keys(item), []string{"product_id", "qty", "subtotal_cents", "unit_price_cents"}},
			} {
				if !slices.Equal(got.keys, got.want) {
					t.Errorf("%s has keys %v, want %v", got.what, got.keys, got.want)
				}
			}

			if e.CorrelationID != "req-789" {
				t.Errorf("correlationId %q, want the body's req-789", e.CorrelationID)
			}
			if cu := e.Data.Customer; cu.ID != c.ID || cu.Name != "ACME" || cu.Email != c.Email || cu.Phone == nil || *cu.Phone != "+1 555 0100" {
				t.Errorf("customer %+v, want %+v", cu, c)
			}
			got := e.Data.Order
			if got.Status != "CONFIRMED" || got.TotalCents != 3*129900+2*250 || len(got.Items) != 2 {
				t.Fatalf("order %+v, want CONFIRMED totalling %d over 2 lines", got, 3*129900+2*250)
			}
			for _, it := range got.Items {
				want := map[string][2]int64{p1: {3, 129900}, p2: {2, 250}}[it.ProductID]
				if it.Qty != want[0] || it.UnitPriceCents != want[1] || it.SubtotalCents != want[0]*want[1] {
					t.Errorf("item %+v, want qty %d at %d", it, want[0], want[1])
				}
			}
			if st := s.OrderStatus(t, got.ID); st != "CONFIRMED" {
				t.Errorf("orders-api shows the order %s", st)
			}
			if a, b := s.Stock(t, p1), s.Stock(t, p2); a != 7 || b != 3 {
				t.Errorf("stock %d and %d, want 7 and 3", a, b)
			}

			// Every upstream call carried the correlation id and the
			// service token, and both order commands the client's key.
			calls := append(s.CustomersProxy.Seen()[custBefore:], s.OrdersProxy.Seen()[ordersBefore:]...)
			var paths []string
			for _, call := range calls {
				paths = append(paths, call.Method+" "+call.Path)
				if call.Header.Get("X-Request-ID") != "req-789" || call.Header.Get("X-Correlation-ID") != "req-789" {
					t.Errorf("%s %s carried X-Request-ID %q, X-Correlation-ID %q", call.Method, call.Path,
						call.Header.Get("X-Request-ID"), call.Header.Get("X-Correlation-ID"))
				}
				if call.Header.Get("Authorization") != "Bearer "+apptest.ServiceToken {
					t.Errorf("%s %s was not sent with the service token", call.Method, call.Path)
				}
			}
			wantPaths := []string{
				"GET /internal/customers/" + c.ID,
				"POST /orders",
				"POST /orders/" + got.ID + "/confirm",
			}
			if !slices.Equal(paths, wantPaths) {
				t.Fatalf("upstream calls %v, want %v", paths, wantPaths)
			}
			key := body["idempotency_key"].(string)
			if k := calls[1].Header.Get("Idempotency-Key"); k != key {
				t.Errorf("POST /orders carried Idempotency-Key %q, want %q", k, key)
			}
			if k := calls[2].Header.Get("X-Idempotency-Key"); k != key {
				t.Errorf("confirm carried X-Idempotency-Key %q, want %q", k, key)
			}
		})
	}
}

func TestRetryWithTheSameKeyReturnsTheSameOrder(t *testing.T) {
	s := orchestrator.NewStack(t)
	o := boot(t, s.Config(), apptest.OperatorToken(t))
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 1000, 10)
	body := request(c.ID, "retry-key", line(p, 4))

	first := ok(t, o.Do(t, http.MethodPost, route, body))
	again := ok(t, o.Do(t, http.MethodPost, alias, body))
	if again.Data.Order.ID != first.Data.Order.ID || again.Data.Order.Status != "CONFIRMED" {
		t.Errorf("retry returned order %s (%s), want %s CONFIRMED", again.Data.Order.ID, again.Data.Order.Status, first.Data.Order.ID)
	}
	if again.Data.Customer.Phone != nil {
		t.Errorf("phone %q, want null for a customer without one", *again.Data.Customer.Phone)
	}
	if st := s.Stock(t, p); st != 6 {
		t.Errorf("stock %d, want 6: taken once", st)
	}
	if rows := s.OrderRows(t); rows["CONFIRMED"] != 1 || len(rows) != 1 {
		t.Errorf("orders %v, want one CONFIRMED", rows)
	}

	// Another key is another order: the counts above can move.
	other := ok(t, o.Do(t, http.MethodPost, route, request(c.ID, "another-key", line(p, 4))))
	if other.Data.Order.ID == first.Data.Order.ID {
		t.Error("a new key returned the old order")
	}
	if st := s.Stock(t, p); st != 2 {
		t.Errorf("stock %d, want 2", st)
	}
}

func TestRetryAfterConfirmFailed(t *testing.T) {
	s := orchestrator.NewStack(t)
	o := boot(t, s.Config(), apptest.ServiceToken)
	c := s.NewCustomer(t, "ACME", "")

	onlyOrder := func(t *testing.T) string {
		t.Helper()
		var id uuid.UUID
		var n int
		if err := s.OrdersDB.QueryRow("SELECT COUNT(*) FROM orders").Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d orders (%v), want 1", n, err)
		}
		if err := s.OrdersDB.QueryRow("SELECT id FROM orders").Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id.String()
	}
	clean := func(t *testing.T) {
		t.Helper()
		if _, err := s.OrdersDB.Exec("DELETE FROM order_items"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OrdersDB.Exec("DELETE FROM orders"); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name      string
		mode      orchestrator.Failure
		afterFail string // the order's status once the first run failed
	}{
		{"confirm never reached orders-api", orchestrator.Unavailable, "CREATED"},
		{"confirm happened but its answer was lost", orchestrator.LostAnswer, "CONFIRMED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clean(t)
			p := s.NewProduct(t, 500, 10)
			body := request(c.ID, "crash-"+uuid.NewString(), line(p, 3))

			s.OrdersProxy.Fail("/confirm", tc.mode, 1000)
			failed(t, o.Do(t, http.MethodPost, route, body), http.StatusServiceUnavailable, "dependency_unavailable")
			placed := onlyOrder(t)
			if st := s.OrderStatus(t, placed); st != tc.afterFail {
				t.Fatalf("after the failed run the order is %s, want %s", st, tc.afterFail)
			}
			if st := s.Stock(t, p); st != 7 {
				t.Fatalf("stock %d after the failed run, want 7", st)
			}

			s.OrdersProxy.Fail("/confirm", 0, 0)
			e := ok(t, o.Do(t, http.MethodPost, route, body))
			if e.Data.Order.ID != placed || e.Data.Order.Status != "CONFIRMED" {
				t.Errorf("retry returned %s (%s), want %s CONFIRMED", e.Data.Order.ID, e.Data.Order.Status, placed)
			}
			if onlyOrder(t) != placed || s.OrderStatus(t, placed) != "CONFIRMED" {
				t.Error("the retry did not confirm the one order")
			}
			if st := s.Stock(t, p); st != 7 {
				t.Errorf("stock %d after the retry, want 7: taken once", st)
			}
		})
	}

	t.Run("confirm answer lost once, retried within the call", func(t *testing.T) {
		clean(t)
		p := s.NewProduct(t, 500, 10)
		before := s.OrdersProxy.Count(http.MethodPost, "/confirm")
		s.OrdersProxy.Fail("/confirm", orchestrator.LostAnswer, 1)
		e := ok(t, o.Do(t, http.MethodPost, route, request(c.ID, "once-"+uuid.NewString(), line(p, 3))))
		if n := s.OrdersProxy.Count(http.MethodPost, "/confirm") - before; n < 2 {
			t.Fatalf("%d confirm calls, want the lost one and a retry", n)
		}
		if onlyOrder(t) != e.Data.Order.ID || s.OrderStatus(t, e.Data.Order.ID) != "CONFIRMED" {
			t.Error("not exactly one CONFIRMED order")
		}
		if st := s.Stock(t, p); st != 7 {
			t.Errorf("stock %d, want 7: taken once", st)
		}
	})
}

func TestErrors(t *testing.T) {
	s := orchestrator.NewStack(t)
	o := boot(t, s.Config(), apptest.OperatorToken(t))
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 700, 2)

	t.Run("400 lists every invalid field", func(t *testing.T) {
		e := failed(t, o.Do(t, http.MethodPost, route, map[string]any{
			"customer_id": "nope", "items": []any{map[string]any{"product_id": "x", "qty": 0}},
		}), http.StatusBadRequest, "validation_failed")
		want := []string{"customer_id", "idempotency_key", "items[0].product_id", "items[0].qty"}
		if got := fieldsOf(t, e.Error.Details); !slices.Equal(got, want) {
			t.Errorf("fields %v, want %v", got, want)
		}
		e = failed(t, o.Do(t, http.MethodPost, route, map[string]any{"customer_id": c.ID, "items": []any{}, "idempotency_key": "k"}),
			http.StatusBadRequest, "validation_failed")
		if got := fieldsOf(t, e.Error.Details); !slices.Equal(got, []string{"items"}) {
			t.Errorf("fields %v, want [items]", got)
		}
	})
	t.Run("400 unknown field", func(t *testing.T) {
		body := request(c.ID, "k", line(p, 1))
		body["priority"] = "high"
		e := failed(t, o.Do(t, http.MethodPost, route, body), http.StatusBadRequest, "validation_failed")
		if got := fieldsOf(t, e.Error.Details); !slices.Equal(got, []string{"priority"}) {
			t.Errorf("fields %v, want [priority]", got)
		}
	})
	t.Run("400 wrong type and bad JSON", func(t *testing.T) {
		e := failed(t, o.Do(t, http.MethodPost, route, `{"customer_id":"`+c.ID+`","items":[{"product_id":"`+p+`","qty":"3"}],"idempotency_key":"k"}`),
			http.StatusBadRequest, "validation_failed")
		if got := fieldsOf(t, e.Error.Details); len(got) != 1 || !strings.HasSuffix(got[0], "qty") {
			t.Errorf("fields %v, want the qty", got)
		}
		failed(t, o.Do(t, http.MethodPost, route, `{"customer_id":`), http.StatusBadRequest, "validation_failed")
	})
	t.Run("413 and 415", func(t *testing.T) {
		failed(t, o.Do(t, http.MethodPost, route, `{"customer_id":"`+strings.Repeat("x", httpapi.MaxBodyBytes)+`"}`),
			http.StatusRequestEntityTooLarge, "payload_too_large")
		failed(t, o.Do(t, http.MethodPost, route, `customer_id=x`, "Content-Type", "application/x-www-form-urlencoded"),
			http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	t.Run("401 and 403", func(t *testing.T) {
		expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
			Subject: "op", ExpiresAt: jwt.NewNumericDate(time.Now().Add(-time.Hour)),
		}).SignedString([]byte(apptest.JWTSecret))
		if err != nil {
			t.Fatal(err)
		}
		wrongKey, _ := httpapi.MintJWT("another-secret-0123456789abcdef", "op", time.Hour)
		body := request(c.ID, "auth-key", line(p, 1))
		for name, auth := range map[string]string{
			"missing": "", "not bearer": "Basic dXNlcjpwdw==", "expired JWT": "Bearer " + expired, "JWT signed with another secret": "Bearer " + wrongKey,
		} {
			r := o.Do(t, http.MethodPost, route, body, "Authorization", auth) // "" drops the header
			failed(t, r, http.StatusUnauthorized, "unauthorized")
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q", name, r.Header.Get("WWW-Authenticate"))
			}
		}
		failed(t, o.Do(t, http.MethodPost, route, body, "Authorization", "Bearer not-the-service-token"), http.StatusForbidden, "forbidden")
		if st := s.Stock(t, p); st != 2 {
			t.Errorf("stock %d after refused requests, want 2", st)
		}
	})
	t.Run("422 unknown or deleted customer", func(t *testing.T) {
		failed(t, o.Do(t, http.MethodPost, route, request(uuid.NewString(), "k-unknown", line(p, 1))),
			http.StatusUnprocessableEntity, "customer_not_found")
		gone := s.NewCustomer(t, "Gone Ltd", "")
		s.Customers.Do(t, http.MethodDelete, "/customers/"+gone.ID, nil).Want(t, http.StatusNoContent)
		failed(t, o.Do(t, http.MethodPost, route, request(gone.ID, "k-gone", line(p, 1))),
			http.StatusUnprocessableEntity, "customer_not_found")
	})
	t.Run("422 unknown product", func(t *testing.T) {
		failed(t, o.Do(t, http.MethodPost, route, request(c.ID, "k-product", line(p, 1), line(uuid.NewString(), 1))),
			http.StatusUnprocessableEntity, "product_not_found")
	})
	t.Run("409 insufficient stock lists the short lines", func(t *testing.T) {
		rowsBefore := s.OrderRows(t)
		e := failed(t, o.Do(t, http.MethodPost, route, request(c.ID, "k-short", line(p, 5))), http.StatusConflict, "insufficient_stock")
		var short []struct {
			ProductID string `json:"product_id"`
			Available int64  `json:"available"`
			Requested int64  `json:"requested"`
		}
		if err := json.Unmarshal(e.Error.Details, &short); err != nil || len(short) != 1 ||
			short[0].ProductID != p || short[0].Available != 2 || short[0].Requested != 5 {
			t.Errorf("details %s, want [{%s 2 5}]", e.Error.Details, p)
		}
		if st := s.Stock(t, p); st != 2 {
			t.Errorf("stock %d, want 2 untouched", st)
		}
		if rows := s.OrderRows(t); fmt.Sprint(rows) != fmt.Sprint(rowsBefore) {
			t.Errorf("orders %v, want %v: nothing written", rows, rowsBefore)
		}
	})
	t.Run("422 key reused with another request", func(t *testing.T) {
		ok(t, o.Do(t, http.MethodPost, route, request(c.ID, "k-reused", line(p, 1))))
		failed(t, o.Do(t, http.MethodPost, route, request(c.ID, "k-reused", line(p, 2))),
			http.StatusUnprocessableEntity, "idempotency_key_reused")
	})
	t.Run("409 retry of an order canceled since", func(t *testing.T) {
		q := s.NewProduct(t, 100, 5)
		body := request(c.ID, "k-canceled", line(q, 1))
		e := ok(t, o.Do(t, http.MethodPost, route, body))
		s.Orders.Do(t, http.MethodPost, "/orders/"+e.Data.Order.ID+"/cancel", nil).Want(t, http.StatusOK)
		failed(t, o.Do(t, http.MethodPost, route, body), http.StatusConflict, "invalid_transition")
		if st := s.OrderStatus(t, e.Data.Order.ID); st != "CANCELED" {
			t.Errorf("order %s, want it left CANCELED", st)
		}
	})
}

func TestDependencyDownIs503(t *testing.T) {
	s := orchestrator.NewStack(t)
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 100, 5)

	for _, tc := range []struct {
		name    string
		config  func() wire.Config
		service string
	}{
		{"orders-api", func() wire.Config { cfg := s.Config(); cfg.OrdersURL = orchestrator.ClosedURL(t); return cfg }, "orders-api"},
		{"customers-api", func() wire.Config { cfg := s.Config(); cfg.CustomersURL = orchestrator.ClosedURL(t); return cfg }, "customers-api"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := boot(t, tc.config(), apptest.OperatorToken(t))
			r := o.Do(t, http.MethodPost, route, request(c.ID, "down-"+tc.name, line(p, 1)), "X-Correlation-ID", "corr-down")
			e := failed(t, r, http.StatusServiceUnavailable, "dependency_unavailable")
			if r.Header.Get("Retry-After") == "" {
				t.Error("no Retry-After on a 503")
			}
			if !strings.HasPrefix(e.Error.Message, tc.service) || strings.Contains(e.Error.Message, "127.0.0.1") {
				t.Errorf("message %q: want the service named and no address", e.Error.Message)
			}
			if e.CorrelationID != "corr-down" {
				t.Errorf("correlationId %q, want the header's corr-down", e.CorrelationID)
			}
			if st := s.Stock(t, p); st != 5 {
				t.Errorf("stock %d, want 5", st)
			}
		})
	}
}

func TestDependencySlowIs504(t *testing.T) {
	s := orchestrator.NewStack(t)
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 100, 5)
	released := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a caller that gave up only once the body is read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-released:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(released) })

	cfg := s.Config()
	cfg.OrdersURL = hang.URL
	cfg.Budget = 700 * time.Millisecond
	o := boot(t, cfg, apptest.OperatorToken(t))
	start := time.Now()
	r := o.Do(t, http.MethodPost, route, request(c.ID, "slow", line(p, 1)))
	e := failed(t, r, http.StatusGatewayTimeout, "dependency_timeout")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %s, want about the 700ms budget", took)
	}
	if !strings.HasPrefix(e.Error.Message, "orders-api") {
		t.Errorf("message %q, want orders-api named", e.Error.Message)
	}
}

func TestCorrelationID(t *testing.T) {
	s := orchestrator.NewStack(t)
	o := boot(t, s.Config(), apptest.OperatorToken(t))
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 100, 50)

	for _, tc := range []struct {
		name   string
		body   string
		header []string
		want   string
	}{
		{"body wins", "from-body", []string{"X-Correlation-ID", "from-header", "X-Request-ID", "from-request-id"}, "from-body"},
		{"X-Correlation-ID", "", []string{"X-Correlation-ID", "from-header", "X-Request-ID", "from-request-id"}, "from-header"},
		{"X-Request-ID", "", []string{"X-Request-ID", "from-request-id"}, "from-request-id"},
		{"made", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := request(c.ID, "corr-"+uuid.NewString(), line(p, 1))
			if tc.body != "" {
				body["correlation_id"] = tc.body
			}
			before := len(s.OrdersProxy.Seen())
			e := ok(t, o.Do(t, http.MethodPost, route, body, tc.header...))
			want := tc.want
			if want == "" {
				if _, err := uuid.Parse(e.CorrelationID); err != nil {
					t.Fatalf("made correlationId %q is not a UUID", e.CorrelationID)
				}
				want = e.CorrelationID
			}
			if e.CorrelationID != want {
				t.Errorf("correlationId %q, want %q", e.CorrelationID, want)
			}
			for _, call := range s.OrdersProxy.Seen()[before:] {
				if call.Header.Get("X-Correlation-ID") != want || call.Header.Get("X-Request-ID") != want {
					t.Errorf("%s %s forwarded %q/%q, want %q", call.Method, call.Path,
						call.Header.Get("X-Correlation-ID"), call.Header.Get("X-Request-ID"), want)
				}
			}
		})
	}
	t.Run("invalid in the body", func(t *testing.T) {
		body := request(c.ID, "corr-bad", line(p, 1))
		body["correlation_id"] = "has a space"
		e := failed(t, o.Do(t, http.MethodPost, route, body, "X-Correlation-ID", "fallback"), http.StatusBadRequest, "validation_failed")
		if got := fieldsOf(t, e.Error.Details); !slices.Equal(got, []string{"correlation_id"}) {
			t.Errorf("fields %v, want [correlation_id]", got)
		}
		if e.CorrelationID != "fallback" {
			t.Errorf("correlationId %q, want the header's", e.CorrelationID)
		}
	})
}

func TestOperationalRoutes(t *testing.T) {
	s := orchestrator.NewStack(t)
	o := boot(t, s.Config(), "")
	o.Do(t, http.MethodGet, "/health", nil).Want(t, http.StatusOK)
	doc := o.Do(t, http.MethodGet, "/openapi.yaml", nil).Want(t, http.StatusOK)
	if string(doc.Body) != string(httpapi.OrchestratorOpenAPI) {
		t.Error("/openapi.yaml is not the orchestrator's document")
	}

	plain := &apptest.Client{Base: o.Base, Token: apptest.ServiceToken}
	failed(t, plain.Do(t, http.MethodPost, "/orders", `{}`), http.StatusNotFound, "not_found")
	failed(t, plain.Do(t, http.MethodGet, route, nil), http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestRefusedServiceTokenIsInternal(t *testing.T) {
	s := orchestrator.NewStack(t)
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 100, 5)
	cfg := s.Config()
	cfg.Auth.ServiceToken = "a-token-the-services-do-not-know"
	o := boot(t, cfg, apptest.OperatorToken(t))

	e := failed(t, o.Do(t, http.MethodPost, route, request(c.ID, "refused", line(p, 1))), http.StatusInternalServerError, "internal")
	if e.Error.Message != "internal error" {
		t.Errorf("message %q: the caller is not told about our credentials", e.Error.Message)
	}
	if st := s.Stock(t, p); st != 5 {
		t.Errorf("stock %d, want 5", st)
	}
}

// TestRetryOfAnExpiredOrder: a run whose confirm never reached orders-api
// leaves its order CREATED; once its reservation expires and the sweep
// gives the stock back, a retry with the same key must not confirm it (nor
// place another order) and answers 409 invalid_transition in the
// orchestrator's shape.
func TestRetryOfAnExpiredOrder(t *testing.T) {
	s := orchestrator.NewStackWith(t, orchestrator.Options{ReservationTTL: 2 * time.Second})
	o := boot(t, s.Config(), apptest.ServiceToken)
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 500, 10)
	body := request(c.ID, "expire-"+uuid.NewString(), line(p, 3))

	s.OrdersProxy.Fail("/confirm", orchestrator.Unavailable, 1000)
	failed(t, o.Do(t, http.MethodPost, route, body), http.StatusServiceUnavailable, "dependency_unavailable")
	var placed uuid.UUID
	if err := s.OrdersDB.QueryRow("SELECT id FROM orders").Scan(&placed); err != nil {
		t.Fatal(err)
	}
	id := placed.String()
	deadline := time.Now().Add(60 * time.Second)
	for s.OrderStatus(t, id) != "EXPIRED" {
		if time.Now().After(deadline) {
			t.Fatalf("order %s is still %s a minute after its 2s reservation", id, s.OrderStatus(t, id))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := s.Stock(t, p); st != 10 {
		t.Fatalf("stock %d after the expiry, want 10", st)
	}

	s.OrdersProxy.Fail("/confirm", 0, 0)
	e := failed(t, o.Do(t, http.MethodPost, route, body), http.StatusConflict, "invalid_transition")
	if !strings.Contains(e.Error.Message, "EXPIRED") {
		t.Errorf("message %q does not name the state", e.Error.Message)
	}
	if rows := s.OrderRows(t); !equalRows(rows, map[string]int{"EXPIRED": 1}) {
		t.Errorf("orders by status %v, want the one EXPIRED order", rows)
	}
	if st := s.Stock(t, p); st != 10 {
		t.Errorf("stock %d after the retry, want 10", st)
	}
}
