package e2e_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/testsuite/apptest"
)

// The limits the contract documents; spelled out rather than imported, so
// that the tests state the contract instead of restating the code.
const (
	maxStock = 1_000_000_000
	maxQty   = 1_000_000
)

// TestJSONNamesMatchExactly sends member names that differ from the
// documented ones only by case or by Unicode folding, and names sent twice:
// each is refused with a 400 that names it, and nothing is written.
func TestJSONNamesMatchExactly(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 10)

	line := `{"product_id":"` + p.ID + `","qty":1,"Qty":5}`
	ordersWantFields(t, c.Do(t, "POST", "/orders", `{"customer_id":"`+customer+`","items":[`+line+`]}`), "items[0].Qty")
	ordersWantFields(t, c.Do(t, "POST", "/orders", `{"customer_id":"`+customer+`","items":[{"product_id":"`+p.ID+`","qty":1,"qty":5}]}`), "items[0].qty")
	ordersWantFields(t, c.Do(t, "POST", "/orders", `{"customer_id":"`+customer+`","items":[{"product_id":"`+p.ID+`","qty":1,"q\u0074y":5}]}`), "items[0].qty")
	ordersWantFields(t, c.Do(t, "POST", "/orders", `{"CUSTOMER_ID":"`+customer+`","items":[{"product_id":"`+p.ID+`","qty":1}]}`), "CUSTOMER_ID", "customer_id")
	if s.stock(t, p.ID) != 10 || len(s.ordersOf(t, customer)) != 0 {
		t.Fatal("a refused order was written")
	}

	ordersWantFields(t, c.Do(t, "POST", "/products", `{"ſku":"FOLD-1","name":"Folded","price_cents":1,"stock":1}`), "ſku", "sku")
	ordersWantFields(t, c.Do(t, "POST", "/products", `{"sku":"FOLD-1","SKU":"FOLD-2","name":"Folded","price_cents":1,"stock":1}`), "SKU")
	ordersWantFields(t, c.Do(t, "POST", "/products", `{"sku":"FOLD-1","name":"Folded","price_cents":1,"stock":1,"stock":2}`), "stock")
	ordersWantFields(t, c.Do(t, "PATCH", "/products/"+p.ID, `{"Stock":99}`), "Stock")
	if got := s.product(t, p.ID); got != p {
		t.Fatalf("a refused patch changed the product: %+v, was %+v", got, p)
	}
	var list ordersPage[ordersProduct]
	c.Do(t, "GET", "/products?search=FOLD", nil).Want(t, 200).JSON(t, &list)
	if len(list.Data) != 0 {
		t.Fatalf("a refused create wrote %+v", list.Data)
	}

	cust := s.customers
	ordersWantFields(t, cust.Do(t, "PATCH", "/customers/"+customer, `{"Name":"x"}`), "Name")
	ordersWantFields(t, cust.Do(t, "PATCH", "/customers/"+customer, `{"name":"x","name":"y"}`), "name")
	ordersWantFields(t, cust.Do(t, "POST", "/customers", `{"NAME":"x","email":"fold@example.com"}`), "NAME", "name")
	ordersWantFields(t, cust.Do(t, "PUT", "/customers/"+customer, `{"name":"x","Email":"fold@example.com"}`), "Email", "email")
	var got customerJSON
	cust.Do(t, "GET", "/customers/"+customer, nil).Want(t, 200).JSON(t, &got)
	if got.Name != "Buyer "+t.Name() {
		t.Fatalf("a refused request renamed the customer to %q", got.Name)
	}
}

// TestEveryFieldErrorAtOnce sends bodies with several members of the wrong
// type: every one is named, nested ones by their index.
func TestEveryFieldErrorAtOnce(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 10)

	ordersWantFields(t, s.customers.Do(t, "POST", "/customers", `{"name":5,"email":6,"phone":7}`), "name", "email", "phone")
	ordersWantFields(t, s.customers.Do(t, "PATCH", "/customers/"+customer, `{"name":[],"email":{},"phone":true}`), "name", "email", "phone")
	// A wrong type is reported with what validation finds in the rest.
	ordersWantFields(t, s.customers.Do(t, "POST", "/customers", `{"name":5,"email":"nope"}`), "name", "email")

	ordersWantFields(t, s.orders.Do(t, "POST", "/products", `{"sku":1,"name":2,"price_cents":"3","stock":4.5}`), "sku", "name", "price_cents", "stock")
	ordersWantFields(t, s.orders.Do(t, "PATCH", "/products/"+p.ID, `{"name":1,"price_cents":"1","stock":true}`), "name", "price_cents", "stock")

	item := func(qty string) string { return `{"product_id":"` + p.ID + `","qty":` + qty + `}` }
	ordersWantFields(t, s.orders.Do(t, "POST", "/orders",
		`{"customer_id":5,"items":[`+item("1")+`,`+item(`"2"`)+`,`+item("2.5")+`,{"product_id":7,"qty":1},"x"]}`),
		"customer_id", "items[1].qty", "items[2].qty", "items[3].product_id", "items[4]")
	if s.stock(t, p.ID) != 10 {
		t.Fatal("a refused order took stock")
	}
}

// TestTextMustBeValid sends invalid UTF-8, lone surrogates and control
// characters in the text fields: each is a 400 naming the field, and
// nothing is stored.
func TestTextMustBeValid(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	cust, c := s.customers, s.orders
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 10)

	for _, bad := range []string{`\ud800`, `x\udc00y`, `\ud800\u0041`, "\xff", "a\xc3", "\xed\xa0\x80"} {
		ordersWantFields(t, cust.Do(t, "POST", "/customers", `{"name":"`+bad+`","email":"utf8@example.com"}`), "name")
		ordersWantFields(t, cust.Do(t, "PATCH", "/customers/"+customer, `{"name":"`+bad+`"}`), "name")
		ordersWantFields(t, c.Do(t, "POST", "/products", `{"sku":"U-1","name":"`+bad+`","price_cents":1,"stock":1}`), "name")
		ordersWantFields(t, c.Do(t, "PATCH", "/products/"+p.ID, `{"name":"`+bad+`"}`), "name")
	}
	for _, bad := range []string{`\u0000`, `a\u0001b`, `tab\there`, `line\nbreak`, `del\u007f`, "raw\x7f"} {
		ordersWantFields(t, cust.Do(t, "POST", "/customers", `{"name":"`+bad+`","email":"ctl@example.com","phone":"1`+bad+`"}`), "name", "phone")
		ordersWantFields(t, cust.Do(t, "POST", "/customers", `{"name":"ok","email":"c`+bad+`tl@example.com"}`), "email")
		ordersWantFields(t, cust.Do(t, "PATCH", "/customers/"+customer, `{"name":"`+bad+`"}`), "name")
		ordersWantFields(t, c.Do(t, "POST", "/products", `{"sku":"C-`+bad+`","name":"n`+bad+`","price_cents":1,"stock":1}`), "sku", "name")
		ordersWantFields(t, c.Do(t, "PATCH", "/products/"+p.ID, `{"name":"`+bad+`"}`), "name")
	}
	if got := s.product(t, p.ID); got != p {
		t.Fatalf("a refused patch changed the product: %+v", got)
	}
	var list ordersPage[ordersProduct]
	c.Do(t, "GET", "/products?limit=100", nil).Want(t, 200).JSON(t, &list)
	if len(list.Data) != 1 {
		t.Fatalf("refused creates wrote products: %d stored", len(list.Data))
	}
	var people listJSON[customerJSON]
	cust.Do(t, "GET", "/customers?limit=100", nil).Want(t, 200).JSON(t, &people)
	if len(people.Data) != 1 || people.Data[0].Name != "Buyer "+t.Name() {
		t.Fatalf("refused requests wrote customers: %+v", people.Data)
	}
}

// TestStockAndQuantityLimits checks the documented maxima: stock above
// maxStock is refused, and a cancel that gives back what an order took
// succeeds even when stock was refilled to the maximum in between.
func TestStockAndQuantityLimits(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders
	customer := s.newCustomer(t)

	for _, stock := range []string{"1000000001", "9223372036854775807", "9223372036854775808", "1e30"} {
		ordersWantFields(t, c.Do(t, "POST", "/products", `{"sku":"BIG-1","name":"Big","price_cents":1,"stock":`+stock+`}`), "stock")
	}
	p := s.newProduct(t, 1, maxStock)
	for _, stock := range []string{"1000000001", "9223372036854775807", "-1"} {
		ordersWantFields(t, c.Do(t, "PATCH", "/products/"+p.ID, `{"stock":`+stock+`}`), "stock")
	}
	if got := s.product(t, p.ID); got != p {
		t.Fatalf("a refused patch changed the product: %+v", got)
	}
	ordersWantFields(t, c.Do(t, "POST", "/orders", ordersBody(customer, ordersLine(p.ID, maxQty+1))), "items[0].qty")

	o := s.place(t, ordersBody(customer, ordersLine(p.ID, maxQty)))
	c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"stock": maxStock}).Want(t, 200)
	c.Do(t, "POST", "/orders/"+o.ID+"/cancel", nil).Want(t, 200)
	if got := s.stock(t, p.ID); got != maxStock+maxQty {
		t.Fatalf("stock %d after the cancel, want %d: what the order took, given back", got, maxStock+maxQty)
	}
	// Above the maximum now, the product still sells and takes a patch.
	s.place(t, ordersBody(customer, ordersLine(p.ID, 1)))
	c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"name": "Renamed"}).Want(t, 200)
}

// TestUniquenessDoesNotFoldAccents: emails are unique as lower-cased
// bytes, SKUs case-insensitively, and neither folds accents or ß.
func TestUniquenessDoesNotFoldAccents(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	cust, c := s.customers, s.orders

	createCustomer(t, cust, "Jose", "jose@x.example")
	createCustomer(t, cust, "José", "josé@x.example")
	createCustomer(t, cust, "Strasse", "strasse@x.example")
	createCustomer(t, cust, "Straße", "straße@x.example")
	wantProblem(t, cust.Do(t, "POST", "/customers", `{"name":"Again","email":"JOSÉ@x.example"}`), 409, "email_taken")
	wantProblem(t, cust.Do(t, "POST", "/customers", `{"name":"Again","email":"Jose@X.example"}`), 409, "email_taken")

	ordersCreateProduct(t, c, "strasse", 1, 1)
	ordersCreateProduct(t, c, "straße", 1, 1)
	ordersCreateProduct(t, c, "CAFE-1", 1, 1)
	ordersCreateProduct(t, c, "CAFÉ-1", 1, 1)
	wantProblem(t, c.Do(t, "POST", "/products", map[string]any{"sku": "STRASSE", "name": "x", "price_cents": 1, "stock": 1}), 409, "sku_taken")
	wantProblem(t, c.Do(t, "POST", "/products", map[string]any{"sku": "café-1", "name": "x", "price_cents": 1, "stock": 1}), 409, "sku_taken")
}

// TestOversizedBodyGets413 uploads bodies over the limit with their
// Content-Length and without "Expect: 100-continue", as a client does that
// sends the whole request before it reads the answer and gives up when a
// write fails, at a pace that keeps it sending for a while after the
// service has decided: every upload reads the whole 413 problem rather than
// a connection reset.
func TestOversizedBodyGets413(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	for _, target := range []struct{ base, path string }{
		{s.orders.Base, "/products"}, {s.orders.Base, "/orders"}, {s.customers.Base, "/customers"},
	} {
		var wg sync.WaitGroup
		results := make([]error, 10)
		for i := range results {
			wg.Go(func() { results[i] = uploadTooLarge(target.base, target.path, 2<<20) })
		}
		wg.Wait()
		for i, err := range results {
			if err != nil {
				t.Errorf("upload %d of %d to %s: %v", i+1, len(results), target.path, err)
			}
		}
	}
}

// uploadTooLarge sends a POST of size bytes over a connection of its own,
// the whole body before reading anything, and checks that the answer is
// the 413 problem.
func uploadTooLarge(base, path string, size int) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, u.Host, apptest.ServiceToken, size)
	if _, err := io.WriteString(conn, head); err != nil {
		return err
	}
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for sent := 0; sent < size; sent += len(chunk) {
		if _, err := conn.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
			// As curl and most clients do, a reset while sending ends the
			// request: the answer is never read.
			return fmt.Errorf("sending the body, %d of %d bytes sent: %w", sent, size, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("reading the answer's body: %w", err)
	}
	var p httpapi.Problem
	if err := json.Unmarshal(body, &p); err != nil || res.StatusCode != 413 || p.Code != "payload_too_large" ||
		res.Header.Get("Content-Type") != httpapi.ProblemContentType {
		return fmt.Errorf("answer %d %s, want the 413 payload_too_large problem", res.StatusCode, body)
	}
	if !strings.Contains(p.Detail, fmt.Sprint(httpapi.MaxBodyBytes)) {
		return fmt.Errorf("413 detail %q does not name the limit", p.Detail)
	}
	return nil
}
