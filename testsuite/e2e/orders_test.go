package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/testsuite/apptest"
)

func TestProductLifecycle(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders

	res := c.Do(t, "POST", "/products", map[string]any{
		"sku": " WID-1 ", "name": " Widget ", "price_cents": 1299, "stock": 5,
	}).Want(t, 201)
	var p ordersProduct
	res.JSON(t, &p)
	if p.SKU != "WID-1" || p.Name != "Widget" || p.PriceCents != 1299 || p.Stock != 5 || p.Version != 1 {
		t.Fatalf("created %+v", p)
	}
	if _, err := uuid.Parse(p.ID); err != nil {
		t.Fatalf("id %q: %v", p.ID, err)
	}
	if loc := res.Header.Get("Location"); loc != "/products/"+p.ID {
		t.Fatalf("Location %q", loc)
	}
	if et := res.Header.Get("ETag"); et != `"1"` {
		t.Fatalf("ETag %q, want \"1\"", et)
	}
	created, err := time.Parse(time.RFC3339Nano, p.CreatedAt)
	if err != nil || !strings.HasSuffix(p.CreatedAt, "Z") || p.UpdatedAt != p.CreatedAt {
		t.Fatalf("created_at %q, updated_at %q", p.CreatedAt, p.UpdatedAt)
	}

	got := c.Do(t, "GET", "/products/"+p.ID, nil).Want(t, 200)
	var fetched ordersProduct
	got.JSON(t, &fetched)
	if fetched != p || got.Header.Get("ETag") != `"1"` {
		t.Fatalf("GET %+v ETag %q, want %+v \"1\"", fetched, got.Header.Get("ETag"), p)
	}
	nm := c.Do(t, "GET", "/products/"+p.ID, nil, "If-None-Match", `"1"`).Want(t, 304)
	if len(nm.Body) != 0 || nm.Header.Get("ETag") != `"1"` {
		t.Fatalf("304 with body %q, ETag %q", nm.Body, nm.Header.Get("ETag"))
	}
	c.Do(t, "GET", "/products/"+p.ID, nil, "If-None-Match", `"7"`).Want(t, 200)

	wantProblem(t, c.Do(t, "GET", "/products/"+uuid.NewString(), nil), 404, "not_found")
	wantProblem(t, c.Do(t, "GET", "/products/not-a-uuid", nil), 404, "not_found")
	wantProblem(t, c.Do(t, "POST", "/products", map[string]any{
		"sku": "WID-1", "name": "Another", "price_cents": 1, "stock": 1,
	}), 409, "sku_taken")

	// Unconditional patch.
	res = c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"name": "Gadget"}).Want(t, 200)
	res.JSON(t, &p)
	if p.Name != "Gadget" || p.Version != 2 || p.PriceCents != 1299 || res.Header.Get("ETag") != `"2"` {
		t.Fatalf("patched %+v ETag %q", p, res.Header.Get("ETag"))
	}
	if updated, _ := time.Parse(time.RFC3339Nano, p.UpdatedAt); updated.Before(created) {
		t.Fatalf("updated_at %s before created_at %s", p.UpdatedAt, p.CreatedAt)
	}
	// Conditional on the current version.
	res = c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"price_cents": 1500}, "If-Match", `"2"`).Want(t, 200)
	res.JSON(t, &p)
	if p.PriceCents != 1500 || p.Version != 3 || res.Header.Get("ETag") != `"3"` {
		t.Fatalf("patched %+v ETag %q", p, res.Header.Get("ETag"))
	}
	// Stale, weak and foreign tags change nothing.
	for _, tag := range []string{`"2"`, `W/"3"`, `3`, `"abc"`} {
		wantProblem(t, c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"stock": 1}, "If-Match", tag), 412, "precondition_failed")
	}
	if now := s.product(t, p.ID); now.Stock != 5 || now.Version != 3 {
		t.Fatalf("a failed precondition changed the product: %+v", now)
	}
	// A list of tags matches when one of them is current; * always does.
	res = c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"stock": 8}, "If-Match", `"1", "3"`).Want(t, 200)
	res.JSON(t, &p)
	if p.Stock != 8 || p.Version != 4 {
		t.Fatalf("patched %+v", p)
	}
	res = c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"stock": 9, "name": " Thing "}, "If-Match", "*").Want(t, 200)
	res.JSON(t, &p)
	if p.Stock != 9 || p.Name != "Thing" || p.Version != 5 || res.Header.Get("ETag") != `"5"` {
		t.Fatalf("patched %+v", p)
	}
	if now := s.product(t, p.ID); now != p {
		t.Fatalf("GET after PATCH %+v, want %+v", now, p)
	}

	wantProblem(t, c.Do(t, "PATCH", "/products/"+uuid.NewString(), map[string]any{"stock": 1}), 404, "not_found")
	wantProblem(t, c.Do(t, "PATCH", "/products/"+uuid.NewString(), map[string]any{"stock": 1}, "If-Match", `"1"`), 404, "not_found")
}

func TestProductValidation(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders
	p := s.newProduct(t, 100, 1)

	ordersWantFields(t, c.Do(t, "POST", "/products", map[string]any{}), "sku", "name", "price_cents", "stock")
	ordersWantFields(t, c.Do(t, "POST", "/products", map[string]any{
		"sku": strings.Repeat("s", 65), "name": "  ", "price_cents": -1, "stock": -5,
	}), "sku", "name", "price_cents", "stock")
	ordersWantFields(t, c.Do(t, "POST", "/products", map[string]any{
		"sku": "X", "name": "X", "price_cents": 1, "stock": 1, "color": "red",
	}), "color")
	ordersWantFields(t, c.Do(t, "POST", "/products", `{"sku":"X","name":"X","price_cents":"12","stock":1}`), "price_cents")
	ordersWantFields(t, c.Do(t, "POST", "/products", `{"sku":"X","name":"X","price_cents":1.5,"stock":1}`), "price_cents")
	wantProblem(t, c.Do(t, "POST", "/products", `{"sku":`), 400, "validation_failed")
	wantProblem(t, c.Do(t, "POST", "/products", `{"sku":"X","name":"X","price_cents":1,"stock":1} {}`), 400, "validation_failed")
	wantProblem(t, c.Do(t, "POST", "/products", nil), 400, "validation_failed")
	wantProblem(t, c.Do(t, "POST", "/products", `{"sku":"X","name":"X","price_cents":1,"stock":1}`,
		"Content-Type", "text/plain"), 415, "unsupported_media_type")
	big := fmt.Sprintf(`{"sku":"X","name":%q,"price_cents":1,"stock":1}`, strings.Repeat("n", httpapi.MaxBodyBytes))
	wantProblem(t, c.Do(t, "POST", "/products", big), 413, "payload_too_large")

	ordersWantFields(t, c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{}), "body")
	ordersWantFields(t, c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"name": nil, "stock": nil}), "name", "stock")
	ordersWantFields(t, c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"name": nil, "price_cents": -2}), "name", "price_cents")
	ordersWantFields(t, c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"stock": -1, "price_cents": -2, "name": ""}), "stock", "price_cents", "name")
	ordersWantFields(t, c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"sku": "NEW"}), "sku")
	wantProblem(t, c.Do(t, "PATCH", "/products/"+p.ID, `{"stock":1}`, "Content-Type", "text/plain"), 415, "unsupported_media_type")
	if now := s.product(t, p.ID); now != p {
		t.Fatalf("rejected patches changed the product: %+v, was %+v", now, p)
	}
}

func TestOrdersAPIAuth(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	p := s.newProduct(t, 100, 1)
	customer := s.newCustomer(t)

	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: "op", ExpiresAt: jwt.NewNumericDate(time.Now().Add(-time.Hour)),
	}).SignedString([]byte(apptest.JWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := httpapi.MintJWT("another-secret-0123456789abcdef", "op", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	requests := []struct{ method, path string }{
		{"POST", "/products"}, {"GET", "/products"}, {"GET", "/products/" + p.ID}, {"PATCH", "/products/" + p.ID},
		{"POST", "/orders"}, {"GET", "/orders"}, {"GET", "/orders/" + uuid.NewString()},
		{"POST", "/orders/" + uuid.NewString() + "/confirm"}, {"POST", "/orders/" + uuid.NewString() + "/cancel"},
	}
	for _, tc := range []struct {
		token  string
		status int
		code   string
	}{
		{"", 401, "unauthorized"},
		{expired, 401, "unauthorized"},
		{forged, 401, "unauthorized"},
		{"not-the-service-token", 403, "forbidden"},
	} {
		c := *s.orders
		c.Token = tc.token
		for _, r := range requests {
			res := c.Do(t, r.method, r.path, map[string]any{"stock": 0})
			wantProblem(t, res, tc.status, tc.code)
			if tc.status == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s %s: 401 without WWW-Authenticate: Bearer", r.method, r.path)
			}
		}
	}
	if s.stock(t, p.ID) != 1 {
		t.Fatal("a refused request changed a product")
	}
	// The service token is as good as an operator's JWT.
	svc := *s.orders
	svc.Token = apptest.ServiceToken
	var o ordersOrder
	svc.Do(t, "POST", "/orders", ordersBody(customer, ordersLine(p.ID, 1))).Want(t, 201).JSON(t, &o)
	svc.Do(t, "GET", "/orders/"+o.ID, nil).Want(t, 200)

	// The operational endpoints are open.
	open := *s.orders
	open.Token = ""
	open.Do(t, "GET", "/health", nil).Want(t, 200)
	open.Do(t, "GET", "/ready", nil).Want(t, 200)
	open.Do(t, "GET", "/metrics", nil).Want(t, 200)
	doc := open.Do(t, "GET", "/openapi.yaml", nil).Want(t, 200)
	if string(doc.Body) != string(httpapi.OrdersOpenAPI) {
		t.Fatal("/openapi.yaml is not the orders-api document")
	}
}

func TestProductSearchPages(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders
	var made []string
	for i := range 23 {
		made = append(made, ordersCreateProduct(t, c, fmt.Sprintf("PAGE-%02d", i), 100, 1).ID)
	}
	ordersCreateProduct(t, c, "OTHER-1", 100, 1)
	other := ordersCreateProduct(t, c, "OTHER-2", 100, 1)
	c.Do(t, "PATCH", "/products/"+other.ID, map[string]any{"name": "Special page holder"}).Want(t, 200)

	// Walk the pages by hand, adding a product after the first: a keyset
	// cursor neither repeats nor skips rows because of it.
	var first ordersPage[ordersProduct]
	c.Do(t, "GET", "/products?search=PAGE-&limit=5", nil).Want(t, 200).JSON(t, &first)
	if len(first.Data) != 5 || !first.Page.HasMore || first.Page.NextCursor == nil || first.Page.Limit != 5 {
		t.Fatalf("first page %+v", first.Page)
	}
	ordersCreateProduct(t, c, "PAGE-NEW", 100, 1)
	got := first.Data
	for cursor := first.Page.NextCursor; cursor != nil; {
		var p ordersPage[ordersProduct]
		c.Do(t, "GET", "/products?search=PAGE-&limit=5&cursor="+*cursor, nil).Want(t, 200).JSON(t, &p)
		got = append(got, p.Data...)
		cursor = p.Page.NextCursor
		if p.Page.HasMore != (cursor != nil) {
			t.Fatalf("has_more %v with cursor %v", p.Page.HasMore, cursor)
		}
	}
	var ids []string
	for i, p := range got {
		ids = append(ids, p.ID)
		if i > 0 {
			prev, _ := time.Parse(time.RFC3339Nano, got[i-1].CreatedAt)
			cur, _ := time.Parse(time.RFC3339Nano, p.CreatedAt)
			if cur.After(prev) || (cur.Equal(prev) && p.ID > got[i-1].ID) {
				t.Fatalf("not newest first at %d: %s after %s", i, p.CreatedAt, got[i-1].CreatedAt)
			}
		}
	}
	want := slices.Clone(made)
	slices.Reverse(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("paged ids\n%v\nwant\n%v", ids, want)
	}

	// Search matches SKU or name; the newest page holds the late product.
	all := ordersAll(t, c, "/products?search=page", 10, func(p ordersProduct) string { return p.ID })
	if len(all) != 25 || all[0].SKU != "PAGE-NEW" {
		t.Fatalf("search=page found %d, first %+v", len(all), all[0])
	}
	if n := len(ordersAll(t, c, "/products", 100, func(p ordersProduct) string { return p.ID })); n != 26 {
		t.Fatalf("unfiltered list has %d products, want 26", n)
	}
	// LIKE's wildcards in a search are matched literally.
	for _, q := range []string{"_AGE", "PAGE%00"} {
		if n := len(ordersAll(t, c, "/products?search="+url.QueryEscape(q), 10, func(p ordersProduct) string { return p.ID })); n != 0 {
			t.Fatalf("search %q is a pattern: %d hits", q, n)
		}
	}

	ordersWantFields(t, c.Do(t, "GET", "/products?limit=0", nil), "limit")
	ordersWantFields(t, c.Do(t, "GET", "/products?limit=101", nil), "limit")
	tampered := "zz" + (*first.Page.NextCursor)[2:]
	ordersWantFields(t, c.Do(t, "GET", "/products?limit=abc&cursor="+tampered, nil), "limit", "cursor")
	ordersWantFields(t, c.Do(t, "GET", "/products?cursor=%25%25%25", nil), "cursor")
}

func TestPlaceOrder(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	customer := s.newCustomer(t)
	p1 := s.newProduct(t, 1000, 10)
	p2 := s.newProduct(t, 250, 5)

	// Lines of one product are merged; items come back in product id order.
	res := s.orders.Do(t, "POST", "/orders", ordersBody(customer,
		ordersLine(p2.ID, 2), ordersLine(p1.ID, 1), ordersLine(p2.ID, 1))).Want(t, 201)
	var o ordersOrder
	res.JSON(t, &o)
	if res.Header.Get("Location") != "/orders/"+o.ID || res.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("headers %v", res.Header)
	}
	want := []ordersItem{
		{ProductID: p1.ID, Qty: 1, UnitPriceCents: 1000, SubtotalCents: 1000},
		{ProductID: p2.ID, Qty: 3, UnitPriceCents: 250, SubtotalCents: 750},
	}
	slices.SortFunc(want, func(a, b ordersItem) int { return strings.Compare(a.ProductID, b.ProductID) })
	if o.CustomerID != customer || o.Status != "CREATED" || o.TotalCents != 1750 || !slices.Equal(o.Items, want) {
		t.Fatalf("order %+v, want items %+v", o, want)
	}
	if o.ConfirmedAt != nil || o.CanceledAt != nil || !strings.Contains(string(res.Body), `"confirmed_at":null`) ||
		!strings.Contains(string(res.Body), `"canceled_at":null`) || o.CreatedAt != o.UpdatedAt {
		t.Fatalf("timestamps of a new order: %s", res.Body)
	}
	if s.stock(t, p1.ID) != 9 || s.stock(t, p2.ID) != 2 {
		t.Fatal("stock not taken")
	}
	// The unit price is the one at placement.
	s.orders.Do(t, "PATCH", "/products/"+p1.ID, map[string]any{"price_cents": 2000}).Want(t, 200)
	got := s.order(t, o.ID)
	if !slices.Equal(got.Items, o.Items) || got.TotalCents != 1750 || got.Status != "CREATED" || got.CreatedAt != o.CreatedAt {
		t.Fatalf("GET %+v, placed %+v", got, o)
	}
	o2 := s.place(t, ordersBody(customer, ordersLine(p1.ID, 2)))
	if o2.TotalCents != 4000 || o2.Items[0].UnitPriceCents != 2000 {
		t.Fatalf("order at the new price %+v", o2)
	}
	if s.stock(t, p1.ID) != 7 {
		t.Fatal("stock not taken")
	}

	wantProblem(t, s.orders.Do(t, "GET", "/orders/"+uuid.NewString(), nil), 404, "not_found")
	wantProblem(t, s.orders.Do(t, "GET", "/orders/123", nil), 404, "not_found")
}

func TestPlaceOrderErrors(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders
	customer := s.newCustomer(t)
	p1 := s.newProduct(t, 1000, 3)
	p2 := s.newProduct(t, 250, 2)
	unchanged := func() {
		t.Helper()
		if s.stock(t, p1.ID) != 3 || s.stock(t, p2.ID) != 2 {
			t.Fatal("a refused order moved stock")
		}
		if n := len(s.ordersOf(t, customer)); n != 0 {
			t.Fatalf("a refused order was written: %d orders", n)
		}
	}

	// Every bad field at once, malformed ids included.
	ordersWantFields(t, c.Do(t, "POST", "/orders", map[string]any{
		"customer_id": "ACME",
		"items":       []any{ordersLine(p1.ID, 1), ordersLine("p-2", 0), map[string]any{"product_id": p2.ID}},
	}), "customer_id", "items[1].product_id", "items[1].qty", "items[2].qty")
	ordersWantFields(t, c.Do(t, "POST", "/orders", map[string]any{"items": []any{}}), "customer_id", "items")
	ordersWantFields(t, c.Do(t, "POST", "/orders", ordersBody(customer, ordersLine(p1.ID, 1_000_001))), "items[0].qty")
	lines := make([]map[string]any, 101)
	for i := range lines {
		lines[i] = ordersLine(p1.ID, 1)
	}
	ordersWantFields(t, c.Do(t, "POST", "/orders", ordersBody(customer, lines...)), "items")
	ordersWantFields(t, c.Do(t, "POST", "/orders", ordersBody(customer, ordersLine(p1.ID, 1)),
		"Idempotency-Key", strings.Repeat("k", 256)), "Idempotency-Key")
	ordersWantFields(t, c.Do(t, "POST", "/orders", ordersBody("", ordersLine(p1.ID, -1)),
		"Idempotency-Key", "bad\tkey"), "customer_id", "items[0].qty", "Idempotency-Key")
	ordersWantFields(t, c.Do(t, "POST", "/orders", `{"customer_id":"`+customer+`","items":[{"product_id":"`+p1.ID+`","qty":1,"price":1}]}`), "items[0].price")
	wantProblem(t, c.Do(t, "POST", "/orders", nil), 400, "validation_failed")
	wantProblem(t, c.Do(t, "POST", "/orders", `{"customer_id":`), 400, "validation_failed")
	wantProblem(t, c.Do(t, "POST", "/orders", `customer_id=x`, "Content-Type", "application/x-www-form-urlencoded"), 415, "unsupported_media_type")
	big := fmt.Sprintf(`{"customer_id":%q,"items":[],"pad":%q}`, customer, strings.Repeat("x", httpapi.MaxBodyBytes))
	wantProblem(t, c.Do(t, "POST", "/orders", big), 413, "payload_too_large")
	unchanged()

	// References to things that do not exist.
	wantProblem(t, c.Do(t, "POST", "/orders", ordersBody(uuid.NewString(), ordersLine(p1.ID, 1))), 422, "customer_not_found")
	wantProblem(t, c.Do(t, "POST", "/orders", ordersBody(customer, ordersLine(p1.ID, 1), ordersLine(uuid.NewString(), 1))), 422, "product_not_found")
	unchanged()

	// Short stock names every short line, and only those.
	res := c.Do(t, "POST", "/orders", ordersBody(customer, ordersLine(p1.ID, 4), ordersLine(p2.ID, 3)))
	p := wantProblem(t, res, 409, "insufficient_stock")
	var details []ordersShortage
	raw, _ := json.Marshal(p.Details)
	json.Unmarshal(raw, &details)
	wantShort := []ordersShortage{{p1.ID, 3, 4}, {p2.ID, 2, 3}}
	slices.SortFunc(wantShort, func(a, b ordersShortage) int { return strings.Compare(a.ProductID, b.ProductID) })
	slices.SortFunc(details, func(a, b ordersShortage) int { return strings.Compare(a.ProductID, b.ProductID) })
	if !slices.Equal(details, wantShort) {
		t.Fatalf("details %s, want %+v", raw, wantShort)
	}
	res = c.Do(t, "POST", "/orders", ordersBody(customer, ordersLine(p1.ID, 3), ordersLine(p2.ID, 2), ordersLine(p2.ID, 1)))
	p = wantProblem(t, res, 409, "insufficient_stock")
	raw, _ = json.Marshal(p.Details)
	details = nil
	json.Unmarshal(raw, &details)
	if !slices.Equal(details, []ordersShortage{{p2.ID, 2, 3}}) {
		t.Fatalf("details %s, want only %s short by one", raw, p2.ID)
	}
	unchanged()

	// Exactly the stock there is can be ordered.
	s.place(t, ordersBody(customer, ordersLine(p1.ID, 3), ordersLine(p2.ID, 2)))
	if s.stock(t, p1.ID) != 0 || s.stock(t, p2.ID) != 0 {
		t.Fatal("stock not taken to zero")
	}

	// A deleted customer is unknown.
	other := s.newCustomer(t)
	s.orders.Do(t, "PATCH", "/products/"+p1.ID, map[string]any{"stock": 5}).Want(t, 200)
	s.place(t, ordersBody(other, ordersLine(p1.ID, 1)))
	s.customers.Do(t, "DELETE", "/customers/"+other, nil).Want(t, 204)
	wantProblem(t, c.Do(t, "POST", "/orders", ordersBody(other, ordersLine(p1.ID, 1))), 422, "customer_not_found")
	if s.stock(t, p1.ID) != 4 || len(s.ordersOf(t, other)) != 1 {
		t.Fatal("an order for a deleted customer was written")
	}
}

func TestOrderSearch(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders
	a, b := s.newCustomer(t), s.newCustomer(t)
	p := s.newProduct(t, 100, 100)
	var placed []ordersOrder // oldest first
	for i := range 8 {
		who := a
		if i%3 == 2 {
			who = b
		}
		placed = append(placed, s.place(t, ordersBody(who, ordersLine(p.ID, int64(i+1)))))
	}
	c.Do(t, "POST", "/orders/"+placed[0].ID+"/confirm", nil, "X-Idempotency-Key", "search-1").Want(t, 200)
	c.Do(t, "POST", "/orders/"+placed[3].ID+"/confirm", nil, "X-Idempotency-Key", "search-2").Want(t, 200)
	c.Do(t, "POST", "/orders/"+placed[2].ID+"/cancel", nil).Want(t, 200)

	ids := func(path string, limit int) []string {
		t.Helper()
		var out []string
		for _, o := range ordersAll(t, c, path, limit, func(o ordersOrder) string { return o.ID }) {
			out = append(out, o.ID)
		}
		return out
	}
	pick := func(idx ...int) []string {
		var out []string
		for _, i := range slices.Backward(idx) {
			out = append(out, placed[i].ID)
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", pick(0, 1, 2, 3, 4, 5, 6, 7)},
		{"customer_id=" + a, pick(0, 1, 3, 4, 6, 7)},
		{"customer_id=" + b, pick(2, 5)},
		{"status=CONFIRMED", pick(0, 3)},
		{"status=CANCELED&customer_id=" + b, pick(2)},
		{"status=CREATED&customer_id=" + a, pick(1, 4, 6, 7)},
		{"status=CANCELED&customer_id=" + a, nil},
		// from and to are inclusive, to the microsecond.
		{"from=" + url.QueryEscape(placed[2].CreatedAt) + "&to=" + url.QueryEscape(placed[5].CreatedAt), pick(2, 3, 4, 5)},
		{"from=" + url.QueryEscape(placed[6].CreatedAt), pick(6, 7)},
		{"to=" + url.QueryEscape(placed[1].CreatedAt) + "&customer_id=" + a, pick(0, 1)},
		{"from=" + url.QueryEscape(placed[3].CreatedAt) + "&to=" + url.QueryEscape(placed[3].CreatedAt), pick(3)},
	} {
		path := "/orders?" + tc.query
		for _, limit := range []int{1, 3, 100} {
			if got := ids(path, limit); !slices.Equal(got, tc.want) {
				t.Fatalf("%s limit %d:\n got %v\nwant %v", path, limit, got, tc.want)
			}
		}
	}
	// An offset time, "+" percent-encoded or arrived as a space, is the same instant.
	created, _ := time.Parse(time.RFC3339Nano, placed[4].CreatedAt)
	offset := created.In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano)
	if got := ids("/orders?from="+url.QueryEscape(offset), 10); !slices.Equal(got, pick(4, 5, 6, 7)) {
		t.Fatalf("from %s: %v", offset, got)
	}
	if got := ids("/orders?to="+strings.Replace(offset, "+", "%20", 1), 10); !slices.Equal(got, pick(0, 1, 2, 3, 4)) {
		t.Fatalf("to %s with a space: %v", offset, got)
	}
	// Listed orders carry their items.
	var page ordersPage[ordersOrder]
	c.Do(t, "GET", "/orders?limit=1", nil).Want(t, 200).JSON(t, &page)
	if len(page.Data) != 1 || len(page.Data[0].Items) != 1 || page.Data[0].Items[0].Qty != 8 {
		t.Fatalf("listed order %+v", page.Data)
	}

	ordersWantFields(t, c.Do(t, "GET", "/orders?status=DONE&customer_id=acme&from=yesterday&to=2025-13-01T00:00:00Z&limit=0&cursor=nope", nil),
		"status", "customer_id", "from", "to", "limit", "cursor")
	ordersWantFields(t, c.Do(t, "GET", "/orders?status=created&limit=1000", nil), "status", "limit")
	ordersWantFields(t, c.Do(t, "GET", "/orders?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z", nil), "to")
}

func TestPlaceOrderIdempotency(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders
	customer := s.newCustomer(t)
	p1 := s.newProduct(t, 100, 50)
	p2 := s.newProduct(t, 30, 50)

	body := ordersBody(customer, ordersLine(p1.ID, 2), ordersLine(p2.ID, 1))
	first := c.Do(t, "POST", "/orders", body, "Idempotency-Key", "place-1").Want(t, 201)
	var o ordersOrder
	first.JSON(t, &o)
	if first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("a first placement says it was replayed")
	}
	// The same request again, and with its lines split and reordered.
	for _, again := range []map[string]any{
		body,
		ordersBody(customer, ordersLine(p2.ID, 1), ordersLine(p1.ID, 1), ordersLine(p1.ID, 1)),
	} {
		res := c.Do(t, "POST", "/orders", again, "Idempotency-Key", "place-1").Want(t, 201)
		var replay ordersOrder
		res.JSON(t, &replay)
		if replay.ID != o.ID || res.Header.Get("Idempotent-Replayed") != "true" || res.Header.Get("Location") != "/orders/"+o.ID {
			t.Fatalf("replay %+v headers %v, want order %s replayed", replay, res.Header, o.ID)
		}
	}
	// The same key with another request.
	wantProblem(t, c.Do(t, "POST", "/orders", ordersBody(customer, ordersLine(p1.ID, 3)), "Idempotency-Key", "place-1"), 422, "idempotency_key_reused")
	wantProblem(t, c.Do(t, "POST", "/orders", ordersBody(s.newCustomer(t), ordersLine(p1.ID, 2), ordersLine(p2.ID, 1)),
		"Idempotency-Key", "place-1"), 422, "idempotency_key_reused")
	// Keys are compared exactly.
	other := s.place(t, body, "Idempotency-Key", "PLACE-1")
	if other.ID == o.ID {
		t.Fatal("keys differing in case named one placement")
	}
	if s.stock(t, p1.ID) != 46 || s.stock(t, p2.ID) != 48 || len(s.ordersOf(t, customer)) != 2 {
		t.Fatal("replays moved stock or wrote orders")
	}

	// Concurrent twins: one order, stock moved once.
	twins := ordersConcurrently(t, 12, func(int) (*apptest.Response, error) {
		return ordersSend(c, "POST", "/orders", body, "Idempotency-Key", "place-2")
	})
	var id string
	fresh := 0
	for _, r := range twins {
		if r.Status != 201 {
			t.Fatalf("concurrent twin answered %d: %s", r.Status, r.Body)
		}
		var got ordersOrder
		json.Unmarshal(r.Body, &got)
		if id == "" {
			id = got.ID
		}
		if got.ID != id {
			t.Fatalf("concurrent twins placed %s and %s", id, got.ID)
		}
		if r.Header.Get("Idempotent-Replayed") == "" {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d twins say they placed the order, want 1", fresh)
	}
	if s.stock(t, p1.ID) != 44 || s.stock(t, p2.ID) != 47 || len(s.ordersOf(t, customer)) != 3 {
		t.Fatal("concurrent twins moved stock more than once")
	}

	// A placement's key may also name its confirmation, as the
	// orchestrator does: the two commands keep separate keys.
	r := c.Do(t, "POST", "/orders/"+o.ID+"/confirm", nil, "X-Idempotency-Key", "place-1").Want(t, 200)
	if r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("a confirm replayed a placement's key")
	}
	s.checkLedger(t)
}

func TestConfirmOrder(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 100)
	o := s.place(t, ordersBody(customer, ordersLine(p.ID, 1)))
	path := "/orders/" + o.ID + "/confirm"

	ordersWantFields(t, c.Do(t, "POST", path, nil), "X-Idempotency-Key")
	ordersWantFields(t, c.Do(t, "POST", path, nil, "X-Idempotency-Key", strings.Repeat("k", 256)), "X-Idempotency-Key")
	if s.order(t, o.ID).Status != "CREATED" {
		t.Fatal("a confirm without a key confirmed")
	}

	first := c.Do(t, "POST", path, nil, "Idempotency-Key", "confirm-1").Want(t, 200)
	var confirmed ordersOrder
	first.JSON(t, &confirmed)
	if confirmed.Status != "CONFIRMED" || confirmed.ConfirmedAt == nil || confirmed.CanceledAt != nil || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("confirmed %s headers %v", first.Body, first.Header)
	}
	if got := s.order(t, o.ID); got.Status != "CONFIRMED" || *got.ConfirmedAt != *confirmed.ConfirmedAt {
		t.Fatalf("GET after confirm %+v", got)
	}
	// Either header carries the key; a replay is byte for byte.
	for _, h := range []string{"X-Idempotency-Key", "Idempotency-Key"} {
		r := c.Do(t, "POST", path, nil, h, "confirm-1").Want(t, 200)
		if string(r.Body) != string(first.Body) || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay via %s: %s %v", h, r.Body, r.Header)
		}
	}
	// A new key on a confirmed order changes nothing.
	again := c.Do(t, "POST", path, nil, "X-Idempotency-Key", "confirm-2").Want(t, 200)
	var same ordersOrder
	again.JSON(t, &same)
	if same.Status != "CONFIRMED" || *same.ConfirmedAt != *confirmed.ConfirmedAt || same.UpdatedAt != confirmed.UpdatedAt ||
		again.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("second key on a confirmed order: %s", again.Body)
	}
	// A key belongs to one order.
	o2 := s.place(t, ordersBody(customer, ordersLine(p.ID, 1)))
	wantProblem(t, c.Do(t, "POST", "/orders/"+o2.ID+"/confirm", nil, "X-Idempotency-Key", "confirm-1"), 422, "idempotency_key_reused")
	if s.order(t, o2.ID).Status != "CREATED" {
		t.Fatal("a reused key confirmed another order")
	}
	// A canceled order cannot be confirmed; the key stays free for it.
	c.Do(t, "POST", "/orders/"+o2.ID+"/cancel", nil).Want(t, 200)
	wantProblem(t, c.Do(t, "POST", "/orders/"+o2.ID+"/confirm", nil, "X-Idempotency-Key", "confirm-3"), 409, "invalid_transition")
	wantProblem(t, c.Do(t, "POST", "/orders/"+o2.ID+"/confirm", nil, "X-Idempotency-Key", "confirm-3"), 409, "invalid_transition")
	wantProblem(t, c.Do(t, "POST", "/orders/"+uuid.NewString()+"/confirm", nil, "X-Idempotency-Key", "confirm-4"), 404, "not_found")
	wantProblem(t, c.Do(t, "POST", "/orders/x/confirm", nil, "X-Idempotency-Key", "confirm-4"), 404, "not_found")

	// The stored response is what a key gets back, even once the order has
	// moved on.
	c.Do(t, "POST", "/orders/"+o.ID+"/cancel", nil).Want(t, 200)
	r := c.Do(t, "POST", path, nil, "X-Idempotency-Key", "confirm-1").Want(t, 200)
	if string(r.Body) != string(first.Body) || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay after cancel: %s", r.Body)
	}
	wantProblem(t, c.Do(t, "POST", path, nil, "X-Idempotency-Key", "confirm-5"), 409, "invalid_transition")
}

func TestConfirmConcurrentlyWithOneKey(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 100)
	o := s.place(t, ordersBody(customer, ordersLine(p.ID, 2)))
	path := "/orders/" + o.ID + "/confirm"

	answers := ordersConcurrently(t, 20, func(int) (*apptest.Response, error) {
		return ordersSend(s.orders, "POST", path, nil, "X-Idempotency-Key", "together")
	})
	var body string
	fresh, inProgress := 0, 0
	for _, r := range answers {
		switch {
		case r.Status == 409 && ordersCode(r) == "idempotency_key_in_progress":
			inProgress++
			continue
		case r.Status != 200:
			t.Fatalf("concurrent confirm answered %d: %s", r.Status, r.Body)
		}
		if body == "" {
			body = string(r.Body)
		}
		if string(r.Body) != body {
			t.Fatalf("concurrent confirms answered\n%s\nand\n%s", body, r.Body)
		}
		if r.Header.Get("Idempotent-Replayed") == "" {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d confirms say they made the transition (%d in progress), want 1", fresh, inProgress)
	}
	var confirmed ordersOrder
	json.Unmarshal([]byte(body), &confirmed)
	if got := s.order(t, o.ID); got.Status != "CONFIRMED" || got.ConfirmedAt == nil || *got.ConfirmedAt != *confirmed.ConfirmedAt {
		t.Fatalf("order after concurrent confirms %+v, answered %s", got, body)
	}
	for range 2 {
		r := s.orders.Do(t, "POST", path, nil, "X-Idempotency-Key", "together").Want(t, 200)
		if string(r.Body) != body || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("later replay %s %v", r.Body, r.Header)
		}
	}
	if s.stock(t, p.ID) != 98 {
		t.Fatal("confirming moved stock")
	}
	s.checkLedger(t)
}

func TestCancelOrder(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders
	customer := s.newCustomer(t)
	p1 := s.newProduct(t, 100, 10)
	p2 := s.newProduct(t, 40, 10)

	o := s.place(t, ordersBody(customer, ordersLine(p1.ID, 3), ordersLine(p2.ID, 4)))
	res := c.Do(t, "POST", "/orders/"+o.ID+"/cancel", nil).Want(t, 200)
	var canceled ordersOrder
	res.JSON(t, &canceled)
	if canceled.Status != "CANCELED" || canceled.CanceledAt == nil || canceled.ConfirmedAt != nil || !slices.Equal(canceled.Items, o.Items) {
		t.Fatalf("canceled %s", res.Body)
	}
	if s.stock(t, p1.ID) != 10 || s.stock(t, p2.ID) != 10 {
		t.Fatal("stock not given back")
	}
	// Canceling again answers the order as it is and gives nothing back.
	var again ordersOrder
	c.Do(t, "POST", "/orders/"+o.ID+"/cancel", nil).Want(t, 200).JSON(t, &again)
	if again.Status != "CANCELED" || *again.CanceledAt != *canceled.CanceledAt || again.UpdatedAt != canceled.UpdatedAt {
		t.Fatalf("second cancel %+v", again)
	}
	if s.stock(t, p1.ID) != 10 || s.stock(t, p2.ID) != 10 {
		t.Fatal("a second cancel gave stock back again")
	}

	// Many cancels at once give the stock back once.
	o = s.place(t, ordersBody(customer, ordersLine(p1.ID, 5)))
	for _, r := range ordersConcurrently(t, 10, func(int) (*apptest.Response, error) {
		return ordersSend(c, "POST", "/orders/"+o.ID+"/cancel", nil)
	}) {
		if r.Status != 200 {
			t.Fatalf("concurrent cancel answered %d: %s", r.Status, r.Body)
		}
	}
	if s.stock(t, p1.ID) != 10 {
		t.Fatalf("stock %d after concurrent cancels, want 10", s.stock(t, p1.ID))
	}

	// A confirmed order within its window.
	o = s.place(t, ordersBody(customer, ordersLine(p2.ID, 6)))
	c.Do(t, "POST", "/orders/"+o.ID+"/confirm", nil, "X-Idempotency-Key", "cancel-1").Want(t, 200)
	c.Do(t, "POST", "/orders/"+o.ID+"/cancel", nil).Want(t, 200).JSON(t, &canceled)
	if canceled.Status != "CANCELED" || canceled.ConfirmedAt == nil || canceled.CanceledAt == nil || s.stock(t, p2.ID) != 10 {
		t.Fatalf("cancel within the window: %+v, stock %d", canceled, s.stock(t, p2.ID))
	}

	wantProblem(t, c.Do(t, "POST", "/orders/"+uuid.NewString()+"/cancel", nil), 404, "not_found")
	s.checkLedger(t)
}

func TestCancelWindow(t *testing.T) {
	t.Parallel()
	clock := &ordersClock{}
	s := newOrdersStack(t, clock)
	c := s.orders
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 10)
	early := s.place(t, ordersBody(customer, ordersLine(p.ID, 1)))
	late := s.place(t, ordersBody(customer, ordersLine(p.ID, 2)))
	c.Do(t, "POST", "/orders/"+early.ID+"/confirm", nil, "X-Idempotency-Key", "w-1").Want(t, 200)
	c.Do(t, "POST", "/orders/"+late.ID+"/confirm", nil, "X-Idempotency-Key", "w-2").Want(t, 200)

	clock.Advance(9*time.Minute + 59*time.Second)
	c.Do(t, "POST", "/orders/"+early.ID+"/cancel", nil).Want(t, 200)
	if s.stock(t, p.ID) != 8 {
		t.Fatal("a cancel within the window did not give stock back")
	}
	clock.Advance(2 * time.Second)
	wantProblem(t, c.Do(t, "POST", "/orders/"+late.ID+"/cancel", nil), 409, "cancel_window_expired")
	if got := s.order(t, late.ID); got.Status != "CONFIRMED" || got.CanceledAt != nil || s.stock(t, p.ID) != 8 {
		t.Fatalf("an expired cancel changed something: %+v, stock %d", got, s.stock(t, p.ID))
	}
	// An unconfirmed order has no window.
	created := s.place(t, ordersBody(customer, ordersLine(p.ID, 3)))
	clock.Advance(24 * time.Hour)
	c.Do(t, "POST", "/orders/"+created.ID+"/cancel", nil).Want(t, 200)
	if s.stock(t, p.ID) != 8 {
		t.Fatal("stock not given back")
	}
}

// TestLastUnitsUnderConcurrency races more orders than there is stock, on
// one replica and on two sharing the database: exactly the stock is sold.
func TestLastUnitsUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	replicas := []*apptest.Client{s.orders}
	for _, name := range []string{"one replica", "two replicas"} {
		if name == "two replicas" {
			replicas = append(replicas, s.bootOrders(t, nil))
		}
		customer := s.newCustomer(t)
		p := s.newProduct(t, 100, 10)
		answers := ordersConcurrently(t, 50, func(i int) (*apptest.Response, error) {
			return ordersSend(replicas[i%len(replicas)], "POST", "/orders", ordersBody(customer, ordersLine(p.ID, 1)))
		})
		created, short := 0, 0
		for _, r := range answers {
			switch {
			case r.Status == 201:
				created++
			case r.Status == 409 && ordersCode(r) == "insufficient_stock":
				short++
			default:
				t.Fatalf("%s: answer %d: %s", name, r.Status, r.Body)
			}
		}
		if created != 10 || short != 40 {
			t.Fatalf("%s: %d placed, %d short; want 10 and 40", name, created, short)
		}
		if st := s.stock(t, p.ID); st != 0 {
			t.Fatalf("%s: stock %d, want 0", name, st)
		}
		if n := len(s.ordersOf(t, customer)); n != 10 {
			t.Fatalf("%s: %d orders written, want 10", name, n)
		}
	}
	s.checkLedger(t)
}

// TestOppositeLineOrders races multi-line orders that list the same
// products in opposite orders, with cancels among them, on two replicas:
// nothing deadlocks into an error and no unit of stock is lost or made.
func TestOppositeLineOrders(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	replicas := []*apptest.Client{s.orders, s.bootOrders(t, nil)}
	customer := s.newCustomer(t)
	const start = 500
	ps := []ordersProduct{s.newProduct(t, 100, start), s.newProduct(t, 200, start), s.newProduct(t, 300, start)}
	var toCancel []string
	for range 10 {
		toCancel = append(toCancel, s.place(t, ordersBody(customer, ordersLine(ps[0].ID, 2), ordersLine(ps[2].ID, 1))).ID)
	}
	answers := ordersConcurrently(t, 50, func(i int) (*apptest.Response, error) {
		c := replicas[i%2]
		switch {
		case i < 10:
			return ordersSend(c, "POST", "/orders/"+toCancel[i]+"/cancel", nil)
		case i%2 == 0:
			return ordersSend(c, "POST", "/orders", ordersBody(customer,
				ordersLine(ps[0].ID, 1), ordersLine(ps[1].ID, 2), ordersLine(ps[2].ID, 3)))
		default:
			return ordersSend(c, "POST", "/orders", ordersBody(customer,
				ordersLine(ps[2].ID, 2), ordersLine(ps[1].ID, 1), ordersLine(ps[0].ID, 3)))
		}
	})
	for i, r := range answers {
		if want := map[bool]int{true: 200, false: 201}[i < 10]; r.Status != want {
			t.Fatalf("request %d answered %d: %s", i, r.Status, r.Body)
		}
	}
	live := map[string]int64{}
	orders := s.ordersOf(t, customer)
	if len(orders) != 50 {
		t.Fatalf("%d orders, want 50", len(orders))
	}
	for _, o := range orders {
		if o.Status == "CANCELED" {
			continue
		}
		for _, it := range o.Items {
			live[it.ProductID] += it.Qty
		}
	}
	for _, p := range ps {
		if got := s.stock(t, p.ID); got+live[p.ID] != start {
			t.Fatalf("product %s: %d in stock + %d in live orders != %d", p.SKU, got, live[p.ID], start)
		}
	}
	s.checkLedger(t)
}

func TestPlaceOrderWhileCustomersAPIIsDown(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.customersSvc.App.Stop(ctx); err != nil {
		t.Fatalf("stop customers-api: %v", err)
	}
	for _, key := range []string{"", "down-1"} {
		res := s.orders.Do(t, "POST", "/orders", ordersBody(customer, ordersLine(p.ID, 1)), "Idempotency-Key", key)
		prob := wantProblem(t, res, 503, "dependency_unavailable")
		if res.Header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
		if prob.Detail != "customers-api is unavailable" {
			t.Fatalf("detail %q: a client must learn which service failed, and nothing of its address or error", prob.Detail)
		}
	}
	if s.stock(t, p.ID) != 10 || len(s.ordersOf(t, customer)) != 0 {
		t.Fatal("an order was written while its customer could not be checked")
	}
	// Reads of orders-api's own data do not need customers-api.
	s.orders.Do(t, "GET", "/ready", nil).Want(t, 200)
	s.orders.Do(t, "GET", "/products?limit=1", nil).Want(t, 200)
}

func TestOpenAPIValidationCatchesDrift(t *testing.T) {
	t.Parallel()
	// The checks every exchange above goes through must be able to fail: a
	// document that demands a field orders-api does not send rejects its
	// answers.
	s := newOrdersStack(t, nil)
	drifted := strings.Replace(string(httpapi.OrdersOpenAPI),
		"required: [id, sku, name, price_cents, stock, version, created_at, updated_at]",
		"required: [id, sku, name, price_cents, stock, version, created_at, updated_at, color]", 1)
	if drifted == string(httpapi.OrdersOpenAPI) {
		t.Fatal("the Product schema moved; update this test")
	}
	rec := &ordersErrorRecorder{TB: t}
	c := *s.orders
	c.HTTP = &http.Client{Transport: apptest.ValidatingTransport(rec, []byte(drifted))}
	c.Do(t, "POST", "/products", map[string]any{"sku": "DRIFT", "name": "Drift", "price_cents": 1, "stock": 1}).Want(t, 201)
	if len(rec.errors) == 0 {
		t.Fatal("a response missing a required field passed validation")
	}
}

// ordersErrorRecorder keeps what a validator reports instead of failing.
type ordersErrorRecorder struct {
	testing.TB
	errors []string
}

func (r *ordersErrorRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *ordersErrorRecorder) Helper() {}
