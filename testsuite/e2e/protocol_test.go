package e2e_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/b2borders/platform/testsuite/apptest"
)

// A cursor of the documented shape, made by the client from a chosen
// (created_at, id), is refused on every list with a 400 naming cursor, and
// so is an issued one with a character changed; an issued cursor is
// honoured by every replica.
func TestForgedCursorsAreRefusedOnEveryList(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	customerID := s.newCustomer(t)
	createCustomer(t, s.customers, "Second", "second@example.com")
	for range 3 {
		p := s.newProduct(t, 100, 10)
		s.place(t, ordersBody(customerID, ordersLine(p.ID, 1)))
	}
	raw, _ := json.Marshal(map[string]any{"t": time.Now().Add(time.Hour).UTC(), "i": uuid.Must(uuid.NewV7())})
	forged := base64.RawURLEncoding.EncodeToString(raw)

	for _, list := range []struct {
		c    *apptest.Client
		path string
	}{
		{s.customers, "/customers"}, {s.orders, "/products"}, {s.orders, "/orders"},
	} {
		ordersWantFields(t, list.c.Do(t, "GET", list.path+"?cursor="+forged, nil), "cursor")

		var first ordersPage[json.RawMessage]
		list.c.Do(t, "GET", list.path+"?limit=1", nil).Want(t, 200).JSON(t, &first)
		if first.Page.NextCursor == nil {
			t.Fatalf("%s: no next cursor on a page of one", list.path)
		}
		issued := *first.Page.NextCursor
		i := len(issued) / 2
		altered := issued[:i] + map[bool]string{true: "A", false: "B"}[issued[i] != 'A'] + issued[i+1:]
		ordersWantFields(t, list.c.Do(t, "GET", list.path+"?limit=1&cursor="+altered, nil), "cursor")
		list.c.Do(t, "GET", list.path+"?limit=1&cursor="+issued, nil).Want(t, 200)
	}

	// Another replica, on the same secrets, honours the first one's cursor.
	other := s.bootOrders(t, nil)
	var first ordersPage[ordersProduct]
	s.orders.Do(t, "GET", "/products?limit=1", nil).Want(t, 200).JSON(t, &first)
	var next ordersPage[ordersProduct]
	other.Do(t, "GET", "/products?limit=1&cursor="+*first.Page.NextCursor, nil).Want(t, 200).JSON(t, &next)
	if len(next.Data) != 1 || next.Data[0].ID == first.Data[0].ID {
		t.Fatalf("the second replica's page after the first's cursor: %+v", next.Data)
	}
}

// protoSend sends one request on a plain client, so that methods no OpenAPI
// document lists (HEAD, OPTIONS, and those a 405 answers) can be sent.
func protoSend(t *testing.T, method, u, token string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// HEAD is served wherever GET is, without a body; OPTIONS on a known path
// answers 204 with Allow; a 405 says in Allow what is allowed.
func TestHeadOptionsAndAllow(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	token := apptest.OperatorToken(t)
	customerID := s.newCustomer(t)
	p := s.newProduct(t, 100, 10)
	cu, or := s.customers.Base, s.orders.Base

	for _, u := range []string{cu + "/health", or + "/health", cu + "/openapi.yaml", cu + "/customers/" + customerID, or + "/products/" + p.ID, or + "/products"} {
		get, getBody := protoSend(t, "GET", u, token)
		head, headBody := protoSend(t, "HEAD", u, token)
		if get.StatusCode != 200 || head.StatusCode != 200 || len(headBody) != 0 || head.ContentLength != get.ContentLength ||
			head.Header.Get("Content-Type") != get.Header.Get("Content-Type") || head.Header.Get("ETag") != get.Header.Get("ETag") {
			t.Errorf("HEAD %s: %d, %d body bytes, Content-Length %d, headers %v; GET: %d, %d bytes, %v",
				u, head.StatusCode, len(headBody), head.ContentLength, head.Header, get.StatusCode, len(getBody), get.Header)
		}
	}
	if res, _ := protoSend(t, "HEAD", or+"/products/"+p.ID, token, "If-None-Match", `"1"`); res.StatusCode != 304 {
		t.Errorf("a conditional HEAD: %d, want 304", res.StatusCode)
	}

	for _, tc := range []struct{ method, u, allow string }{
		{"DELETE", cu + "/customers", "GET, HEAD, POST, OPTIONS"},
		{"POST", cu + "/customers/" + customerID, "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"},
		{"DELETE", cu + "/internal/customers/" + customerID, "GET, HEAD, OPTIONS"},
		{"PUT", or + "/products/" + p.ID, "GET, HEAD, PATCH, OPTIONS"},
		{"GET", or + "/orders/" + uuid.NewString() + "/confirm", "POST, OPTIONS"},
		{"HEAD", or + "/orders/" + uuid.NewString() + "/cancel", "POST, OPTIONS"},
		{"POST", or + "/health", "GET, HEAD, OPTIONS"},
	} {
		res, body := protoSend(t, tc.method, tc.u, token)
		if res.StatusCode != 405 || res.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d, Allow %q; want 405, Allow %q; body %s", tc.method, tc.u, res.StatusCode, res.Header.Get("Allow"), tc.allow, body)
		}
		res, body = protoSend(t, "OPTIONS", tc.u, "")
		if res.StatusCode != 204 || res.Header.Get("Allow") != tc.allow || len(body) != 0 {
			t.Errorf("OPTIONS %s: %d, Allow %q, body %q; want 204, Allow %q", tc.u, res.StatusCode, res.Header.Get("Allow"), body, tc.allow)
		}
	}
	if res, _ := protoSend(t, "OPTIONS", cu+"/nowhere", ""); res.StatusCode != 404 {
		t.Errorf("OPTIONS on an unknown path: %d, want 404", res.StatusCode)
	}
}

// An operator token whose iat lies in the future beyond the clock leeway is
// refused like any other invalid token.
func TestTokenIssuedInTheFutureIs401(t *testing.T) {
	t.Parallel()
	svc := apptest.StartCustomers(t)
	now := time.Now()
	for name, tc := range map[string]struct {
		iat    time.Time
		status int
	}{
		"issued an hour ahead":     {now.Add(time.Hour), 401},
		"issued ten seconds ahead": {now.Add(10 * time.Second), 200},
		"issued a minute ago":      {now.Add(-time.Minute), 200},
	} {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "op", "iat": tc.iat.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
		}).SignedString([]byte(apptest.JWTSecret))
		if err != nil {
			t.Fatal(err)
		}
		c := &apptest.Client{Base: svc.URL, Token: tok}
		res := c.Do(t, "GET", "/customers", nil)
		if res.Status != tc.status {
			t.Errorf("%s: %d, want %d; %s", name, res.Status, tc.status, res.Body)
		}
		if tc.status == 401 {
			wantProblem(t, res, 401, "unauthorized")
		}
	}
}

// A request head far larger than any client needs is refused with 431
// before it reaches a handler.
func TestOversizedRequestHeadersGet431(t *testing.T) {
	t.Parallel()
	svc := apptest.StartCustomers(t)
	for size, status := range map[int]int{8 << 10: 200, 256 << 10: 431, 1 << 20: 431} {
		res, _ := protoSend(t, "GET", svc.URL+"/health", "", "X-Filler", strings.Repeat("a", size))
		if res.StatusCode != status {
			t.Errorf("a %d-byte header: %d, want %d", size, res.StatusCode, status)
		}
	}
}

// Entity tags are compared as strings: a tag that spells the version
// another way matches nothing, so If-Match fails with 412 and changes
// nothing, and If-None-Match sends the body; a weak tag never satisfies
// If-Match but does If-None-Match.
func TestEntityTagsAreComparedAsStrings(t *testing.T) {
	t.Parallel()
	s := newOrdersStack(t, nil)
	c := s.orders
	p := s.newProduct(t, 100, 10)
	c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"stock": 11}, "If-Match", `"1"`).Want(t, 200)

	for _, tag := range []string{`"+2"`, `"02"`, `" 2"`, `"2.0"`, `W/"2"`, `"2`, `2`, `"2" "3"`, `*, "2"`} {
		wantProblem(t, c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"stock": 99}, "If-Match", tag), 412, "precondition_failed")
	}
	if now := s.product(t, p.ID); now.Stock != 11 || now.Version != 2 {
		t.Fatalf("a failed precondition changed the product: %+v", now)
	}
	// A tag holding a comma is one tag, and the list still matches.
	c.Do(t, "PATCH", "/products/"+p.ID, map[string]any{"stock": 12}, "If-Match", `"1,2", "2"`).Want(t, 200)

	for tag, status := range map[string]int{
		`"3"`: 304, `W/"3"`: 304, `"9", W/"3"`: 304, `*`: 304,
		`"03"`: 200, `"+3"`: 200, `"3`: 200, `W/"03"`: 200,
	} {
		c.Do(t, "GET", "/products/"+p.ID, nil, "If-None-Match", tag).Want(t, status)
	}
}

// A request with both Content-Length and Transfer-Encoding is refused with
// 400 without its body being acted on, and the server closes the connection,
// so the bytes after it are never read as another request.
func TestContentLengthWithTransferEncodingClosesTheConnection(t *testing.T) {
	t.Parallel()
	svc := apptest.StartCustomers(t)
	u, _ := url.Parse(svc.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	body := `{"name":"Smuggled","email":"smuggled@example.com"}`
	smuggled := "DELETE /customers/" + uuid.NewString() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n\r\n"
	req := "POST /customers HTTP/1.1\r\nHost: " + u.Host + "\r\nAuthorization: Bearer " + apptest.ServiceToken + "\r\n" +
		"Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n" + smuggled
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(b), "Transfer-Encoding") {
		t.Fatalf("answer %d %s, want 400 naming Transfer-Encoding", res.StatusCode, b)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the 400, a read gave %v, want EOF: the connection stayed open", err)
	}
	var l listJSON[customerJSON]
	(&apptest.Client{Base: svc.URL, Token: apptest.ServiceToken}).Do(t, "GET", "/customers?search=smuggled", nil).Want(t, 200).JSON(t, &l)
	if len(l.Data) != 0 {
		t.Fatalf("the refused request created %+v", l.Data)
	}
}
