package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/testsuite/apptest"
)

type customerJSON struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Email     string  `json:"email"`
	Phone     *string `json:"phone"`
	CreatedAt string  `json:"created_at"`
	UpdatedAt string  `json:"updated_at"`
}

type listJSON[T any] struct {
	Data []T `json:"data"`
	Page struct {
		NextCursor *string `json:"next_cursor"`
		HasMore    bool    `json:"has_more"`
		Limit      int     `json:"limit"`
	} `json:"page"`
}

// customersClient boots customers-api and returns an operator client whose
// every exchange is checked against the customers-api OpenAPI document.
func customersClient(t *testing.T) (*apptest.Client, apptest.Service) {
	t.Helper()
	svc := apptest.StartCustomers(t)
	return &apptest.Client{
		Base:  svc.URL,
		Token: apptest.OperatorToken(t),
		HTTP:  &http.Client{Transport: apptest.ValidatingTransport(t, httpapi.CustomersOpenAPI)},
	}, svc
}

func createCustomer(t *testing.T, c *apptest.Client, name, email string) customerJSON {
	t.Helper()
	var out customerJSON
	c.Do(t, "POST", "/customers", map[string]any{"name": name, "email": email}).Want(t, 201).JSON(t, &out)
	return out
}

func wantProblem(t *testing.T, r *apptest.Response, status int, code string) httpapi.Problem {
	t.Helper()
	r.Want(t, status)
	p := r.Problem(t)
	if string(p.Code) != code || p.Status != status || p.RequestID == "" || p.RequestID != r.Header.Get("X-Request-ID") {
		t.Fatalf("problem %+v, want code %s status %d with the response's request id", p, code, status)
	}
	return p
}

func TestCustomerLifecycle(t *testing.T) {
	c, _ := customersClient(t)

	res := c.Do(t, "POST", "/customers", map[string]any{"name": " ACME ", "email": "Ops@ACME.com", "phone": "+1 555 0100"}).Want(t, 201)
	var created customerJSON
	res.JSON(t, &created)
	if created.Name != "ACME" || created.Email != "ops@acme.com" || created.Phone == nil || *created.Phone != "+1 555 0100" {
		t.Fatalf("created %+v", created)
	}
	if loc := res.Header.Get("Location"); loc != "/customers/"+created.ID {
		t.Fatalf("Location %q", loc)
	}
	if _, err := time.Parse(time.RFC3339Nano, created.CreatedAt); err != nil || !strings.HasSuffix(created.CreatedAt, "Z") {
		t.Fatalf("created_at %q is not RFC 3339 UTC", created.CreatedAt)
	}

	var got customerJSON
	c.Do(t, "GET", "/customers/"+created.ID, nil).Want(t, 200).JSON(t, &got)
	if got != (customerJSON{ID: created.ID, Name: "ACME", Email: "ops@acme.com", Phone: got.Phone, CreatedAt: created.CreatedAt, UpdatedAt: created.UpdatedAt}) || *got.Phone != "+1 555 0100" {
		t.Fatalf("get %+v, want %+v", got, created)
	}

	// PATCH changes only what it names; null clears the phone.
	c.Do(t, "PATCH", "/customers/"+created.ID, `{"name":"ACME Ltd","phone":null}`).Want(t, 200).JSON(t, &got)
	if got.Name != "ACME Ltd" || got.Email != "ops@acme.com" || got.Phone != nil {
		t.Fatalf("patched %+v", got)
	}
	// PUT replaces everything; a phone left out is cleared.
	c.Do(t, "PUT", "/customers/"+created.ID, `{"name":"ACME","email":"billing@acme.com","phone":"123"}`).Want(t, 200)
	c.Do(t, "PUT", "/customers/"+created.ID, `{"name":"ACME","email":"billing@acme.com"}`).Want(t, 200).JSON(t, &got)
	if got.Email != "billing@acme.com" || got.Phone != nil {
		t.Fatalf("replaced %+v", got)
	}
	c.Do(t, "GET", "/customers/"+created.ID, nil).Want(t, 200).JSON(t, &got)
	if got.Email != "billing@acme.com" {
		t.Fatalf("stored email %q", got.Email)
	}

	// Soft delete: gone for every endpoint, and the email is free again.
	c.Do(t, "DELETE", "/customers/"+created.ID, nil).Want(t, 204)
	wantProblem(t, c.Do(t, "GET", "/customers/"+created.ID, nil), 404, "not_found")
	wantProblem(t, c.Do(t, "DELETE", "/customers/"+created.ID, nil), 404, "not_found")
	wantProblem(t, c.Do(t, "PATCH", "/customers/"+created.ID, `{"name":"x"}`), 404, "not_found")
	wantProblem(t, c.Do(t, "PUT", "/customers/"+created.ID, `{"name":"x","email":"x@example.com"}`), 404, "not_found")
	svc := &apptest.Client{Base: c.Base, Token: apptest.ServiceToken}
	wantProblem(t, svc.Do(t, "GET", "/internal/customers/"+created.ID, nil), 404, "not_found")
	again := createCustomer(t, c, "ACME again", "billing@acme.com")
	if again.ID == created.ID {
		t.Fatal("a new customer reused the deleted one's id")
	}
}

func TestCustomerConflicts(t *testing.T) {
	c, _ := customersClient(t)
	a := createCustomer(t, c, "A", "a@example.com")
	createCustomer(t, c, "B", "b@example.com")

	wantProblem(t, c.Do(t, "POST", "/customers", `{"name":"A2","email":"A@example.com"}`), 409, "email_taken")
	wantProblem(t, c.Do(t, "PATCH", "/customers/"+a.ID, `{"email":"b@example.com"}`), 409, "email_taken")
	wantProblem(t, c.Do(t, "PUT", "/customers/"+a.ID, `{"name":"A","email":"b@example.com"}`), 409, "email_taken")

	// Many clients racing for one email: exactly one 201.
	const n = 10
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i] = c.Do(t, "POST", "/customers", map[string]string{"name": fmt.Sprint(i), "email": "race@example.com"}).Status
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[201] != 1 || count[409] != n-1 {
		t.Fatalf("statuses %v, want one 201 and %d 409", count, n-1)
	}
}

func TestCustomerValidation(t *testing.T) {
	c, _ := customersClient(t)
	id := createCustomer(t, c, "Valid", "valid@example.com").ID

	p := wantProblem(t, c.Do(t, "POST", "/customers", map[string]any{
		"name": strings.Repeat("n", 101), "email": "not-an-email", "phone": strings.Repeat("1", 21),
	}), 400, "validation_failed")
	if fields := fieldNames(p); fields != "name,email,phone" {
		t.Fatalf("field errors %q, want all three at once", fields)
	}
	p = wantProblem(t, c.Do(t, "POST", "/customers", `{}`), 400, "validation_failed")
	if fields := fieldNames(p); fields != "name,email" {
		t.Fatalf("field errors %q for an empty object", fields)
	}
	cases := []struct {
		name, method, path, body, contentType string
		status                                int
		code                                  string
	}{
		{"unknown field", "POST", "/customers", `{"name":"x","email":"x@example.com","admin":true}`, "", 400, "validation_failed"},
		{"wrong type", "POST", "/customers", `{"name":5,"email":"x@example.com"}`, "", 400, "validation_failed"},
		{"malformed JSON", "POST", "/customers", `{"name":`, "", 400, "validation_failed"},
		{"two JSON values", "POST", "/customers", `{"name":"x","email":"x@example.com"}{}`, "", 400, "validation_failed"},
		{"missing body", "POST", "/customers", "", "", 400, "validation_failed"},
		{"not JSON", "POST", "/customers", "name=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"too large", "POST", "/customers", `{"name":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, "", 413, "payload_too_large"},
		{"empty patch", "PATCH", "/customers/" + id, `{}`, "", 400, "validation_failed"},
		{"null name", "PATCH", "/customers/" + id, `{"name":null}`, "", 400, "validation_failed"},
		{"bad email in patch", "PATCH", "/customers/" + id, `{"email":"nope"}`, "", 400, "validation_failed"},
		{"put without email", "PUT", "/customers/" + id, `{"name":"x"}`, "", 400, "validation_failed"},
		{"limit zero", "GET", "/customers?limit=0", "", "", 400, "validation_failed"},
		{"limit too big", "GET", "/customers?limit=101", "", "", 400, "validation_failed"},
		{"limit not a number", "GET", "/customers?limit=ten", "", "", 400, "validation_failed"},
		{"tampered cursor", "GET", "/customers?cursor=bm90LWEtY3Vyc29y", "", "", 400, "validation_failed"},
		{"cursor not base64", "GET", "/customers?cursor=***", "", "", 400, "validation_failed"},
		{"unknown id", "GET", "/customers/0190c2d2-8b3c-7d1e-9f00-000000000000", "", "", 404, "not_found"},
		{"id not a uuid", "GET", "/customers/42", "", "", 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			headers := []string{}
			if tc.contentType != "" {
				headers = append(headers, "Content-Type", tc.contentType)
			}
			wantProblem(t, c.Do(t, tc.method, tc.path, body, headers...), tc.status, tc.code)
		})
	}
	// Outside the document, so asked without the validating transport.
	plain := &apptest.Client{Base: c.Base, Token: c.Token}
	wantProblem(t, plain.Do(t, "GET", "/nope", nil), 404, "not_found")
	wantProblem(t, plain.Do(t, "DELETE", "/customers", nil), 405, "method_not_allowed")

	var got customerJSON
	c.Do(t, "GET", "/customers/"+id, nil).Want(t, 200).JSON(t, &got)
	if got.Name != "Valid" || got.Email != "valid@example.com" {
		t.Fatalf("rejected requests changed the customer: %+v", got)
	}
	var list listJSON[customerJSON]
	c.Do(t, "GET", "/customers?limit=100", nil).Want(t, 200).JSON(t, &list)
	if len(list.Data) != 1 {
		t.Fatalf("rejected requests created customers: %d stored", len(list.Data))
	}
}

func fieldNames(p httpapi.Problem) string {
	names := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		names[i] = e.Field
	}
	return strings.Join(names, ",")
}

func TestCustomerSearchAndPages(t *testing.T) {
	c, _ := customersClient(t)
	const n = 27
	want := map[string]bool{}
	for i := range n {
		want[createCustomer(t, c, fmt.Sprintf("Buyer %02d", i), fmt.Sprintf("buyer%02d@example.com", i)).ID] = true
	}
	createCustomer(t, c, "Someone Else", "else@other.org")

	seen := map[string]bool{}
	var last time.Time
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		var l listJSON[customerJSON]
		c.Do(t, "GET", "/customers?search=buyer&limit=4&cursor="+cursor, nil).Want(t, 200).JSON(t, &l)
		if l.Page.Limit != 4 || len(l.Data) > 4 {
			t.Fatalf("page of %d with limit %d", len(l.Data), l.Page.Limit)
		}
		for _, cu := range l.Data {
			if seen[cu.ID] {
				t.Fatalf("customer %s repeated across pages", cu.ID)
			}
			created, err := time.Parse(time.RFC3339Nano, cu.CreatedAt)
			if err != nil {
				t.Fatal(err)
			}
			if !last.IsZero() && created.After(last) {
				t.Fatalf("not newest first: %s after %s", created, last)
			}
			seen[cu.ID], last = true, created
		}
		if !l.Page.HasMore {
			if l.Page.NextCursor != nil {
				t.Fatal("last page carries a next cursor")
			}
			break
		}
		cursor = *l.Page.NextCursor
	}
	if len(seen) != n {
		t.Fatalf("pages listed %d customers, want %d", len(seen), n)
	}
	for id := range want {
		if !seen[id] {
			t.Fatalf("customer %s missing from the pages", id)
		}
	}
	for search, count := range map[string]int{"else@other": 1, "Buyer 0": 10, "BUYER 26": 1, "nobody": 0} {
		var l listJSON[customerJSON]
		c.Do(t, "GET", "/customers?limit=100&search="+strings.ReplaceAll(search, " ", "%20"), nil).Want(t, 200).JSON(t, &l)
		if len(l.Data) != count {
			t.Errorf("search %q found %d, want %d", search, len(l.Data), count)
		}
	}
	var l listJSON[customerJSON]
	c.Do(t, "GET", "/customers", nil).Want(t, 200).JSON(t, &l)
	if l.Page.Limit != 10 || len(l.Data) != 10 || !l.Page.HasMore {
		t.Fatalf("default page: limit %d, %d rows, has_more %v", l.Page.Limit, len(l.Data), l.Page.HasMore)
	}
}

func TestCustomerAuth(t *testing.T) {
	c, _ := customersClient(t)
	id := createCustomer(t, c, "Auth", "auth@example.com").ID

	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hour := time.Now().Add(time.Hour).Unix()
	unauthorized := map[string]string{
		"no token":          "",
		"not bearer":        "Basic dXNlcjpwYXNz",
		"empty bearer":      "Bearer ",
		"wrong signature":   "Bearer " + sign(jwt.SigningMethodHS256, []byte("another-secret-0123456789"), jwt.MapClaims{"sub": "x", "exp": hour}),
		"expired":           "Bearer " + sign(jwt.SigningMethodHS256, []byte(apptest.JWTSecret), jwt.MapClaims{"sub": "x", "exp": time.Now().Add(-time.Hour).Unix()}),
		"no exp":            "Bearer " + sign(jwt.SigningMethodHS256, []byte(apptest.JWTSecret), jwt.MapClaims{"sub": "x"}),
		"alg none":          "Bearer " + sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "x", "exp": hour}),
		"other HMAC alg":    "Bearer " + sign(jwt.SigningMethodHS512, []byte(apptest.JWTSecret), jwt.MapClaims{"sub": "x", "exp": hour}),
		"garbage JWT shape": "Bearer a.b.c",
	}
	anon := &apptest.Client{Base: c.Base}
	for name, header := range unauthorized {
		t.Run(name, func(t *testing.T) {
			res := anon.Do(t, "GET", "/customers/"+id, nil, "Authorization", header)
			wantProblem(t, res, 401, "unauthorized")
			if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("wrong service token", func(t *testing.T) {
		wrong := &apptest.Client{Base: c.Base, Token: "not-the-service-token"}
		wantProblem(t, wrong.Do(t, "GET", "/customers/"+id, nil), 403, "forbidden")
		wantProblem(t, wrong.Do(t, "GET", "/internal/customers/"+id, nil), 403, "forbidden")
		wantProblem(t, wrong.Do(t, "POST", "/customers", `{"name":"x","email":"x@example.com"}`), 403, "forbidden")
	})
	t.Run("operator JWT on internal", func(t *testing.T) {
		wantProblem(t, c.Do(t, "GET", "/internal/customers/"+id, nil), 403, "forbidden")
	})
	t.Run("no token on internal", func(t *testing.T) {
		wantProblem(t, anon.Do(t, "GET", "/internal/customers/"+id, nil), 401, "unauthorized")
	})
	t.Run("service token everywhere", func(t *testing.T) {
		svc := &apptest.Client{Base: c.Base, Token: apptest.ServiceToken}
		var got customerJSON
		svc.Do(t, "GET", "/internal/customers/"+id, nil).Want(t, 200).JSON(t, &got)
		if got.ID != id || got.Email != "auth@example.com" {
			t.Fatalf("internal get %+v", got)
		}
		svc.Do(t, "GET", "/customers/"+id, nil).Want(t, 200)
	})
	t.Run("open endpoints need no token", func(t *testing.T) {
		for _, path := range []string{"/health", "/ready", "/metrics", "/openapi.yaml"} {
			anon.Do(t, "GET", path, nil).Want(t, 200)
		}
	})
}

func TestCustomerOperations(t *testing.T) {
	c, _ := customersClient(t)
	createCustomer(t, c, "Ops", "ops@example.com")

	res := c.Do(t, "GET", "/customers?limit=1", nil, "X-Request-ID", "req-abc-123").Want(t, 200)
	if res.Header.Get("X-Request-ID") != "req-abc-123" {
		t.Fatalf("X-Request-ID %q, want the one sent", res.Header.Get("X-Request-ID"))
	}
	a := c.Do(t, "GET", "/health", nil).Header.Get("X-Request-ID")
	b := c.Do(t, "GET", "/health", nil).Header.Get("X-Request-ID")
	if a == "" || a == b {
		t.Fatalf("made request ids %q and %q, want two distinct ones", a, b)
	}
	p := wantProblem(t, c.Do(t, "GET", "/customers/42", nil, "X-Request-ID", "req-for-problem"), 404, "not_found")
	if p.RequestID != "req-for-problem" || p.Instance != "/customers/42" {
		t.Fatalf("problem %+v", p)
	}

	metrics := string(c.Do(t, "GET", "/metrics", nil).Want(t, 200).Body)
	for _, want := range []string{
		`http_requests_total{method="GET",route="/customers/{id}",status="404"} 1`,
		`http_requests_total{method="POST",route="/customers",status="201"} 1`,
		`http_request_duration_seconds_bucket{method="GET",route="/customers",le=`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `route="/customers/42"`) {
		t.Error("metrics are labelled by raw path")
	}
	spec := c.Do(t, "GET", "/openapi.yaml", nil).Want(t, 200)
	if string(spec.Body) != string(httpapi.CustomersOpenAPI) {
		t.Fatal("/openapi.yaml is not the customers-api document")
	}
}
