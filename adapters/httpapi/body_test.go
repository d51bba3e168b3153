package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/b2borders/platform/core/errs"
)

// named returns the fields an error names, in order; a nil error names
// none.
func named(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v carries no code", err)
	}
	out := []string{}
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestReadJSONMatchesNamesExactly(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		fields     []string
	}{
		{"exact names", `{"customer_id":"c","items":[{"product_id":"p","qty":1}]}`, nil},
		{"another case beside the name", `{"customer_id":"c","items":[{"product_id":"p","qty":1,"Qty":5}]}`, []string{"items[0].Qty"}},
		{"capitals", `{"CUSTOMER_ID":"c"}`, []string{"CUSTOMER_ID"}},
		{"unicode folding", `{"ſku":"x"}`, []string{"ſku"}},
		{"kelvin sign", `{"items":[{"product_id":"p","qty":1}],"customer_\u212aid":"c"}`, []string{"customer_\u212aid"}},
		{"a name twice", `{"customer_id":"c","customer_id":"d"}`, []string{"customer_id"}},
		{"a name twice, one escaped", `{"items":[{"qty":1,"q\u0074y":2}]}`, []string{"items[0].qty"}},
		{"unknown", `{"customer_id":"c","note":"hi"}`, []string{"note"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b orderBody
			fields, err := readJSON([]byte(tc.body), &b)
			if err == nil {
				err = fields.Err()
			}
			got := named(t, err)
			if !slices.Equal(got, tc.fields) && !(len(got) == 0 && len(tc.fields) == 0) {
				t.Fatalf("fields %v, want %v (%v)", got, tc.fields, err)
			}
		})
	}
	var b orderBody
	if _, err := readJSON([]byte(`{"customer_id":"c","items":[{"product_id":"p","qty":7}]}`), &b); err != nil ||
		*b.CustomerID != "c" || len(b.Items) != 1 || *b.Items[0].ProductID != "p" || *b.Items[0].Qty != 7 {
		t.Fatalf("read %+v, %v", b, err)
	}
	var p productBody
	fields, _ := readJSON([]byte(`{"SKU":"x"}`), &p)
	if len(fields) != 1 || !strings.Contains(fields[0].Message, `did you mean "sku"?`) || p.SKU != nil {
		t.Fatalf("fields %+v, sku %v: want a hint at sku and nothing read", fields, p.SKU)
	}
}

func TestReadJSONReportsEveryTypeAtOnce(t *testing.T) {
	var c customerBody
	fields, err := readJSON([]byte(`{"name":5,"email":6,"phone":7}`), &c)
	if err != nil || !slices.Equal(named(t, fields.Err()), []string{"name", "email", "phone"}) {
		t.Fatalf("fields %v, err %v", fields, err)
	}
	var o orderBody
	fields, err = readJSON([]byte(`{"customer_id":[],"items":[{"qty":1},{"qty":"2"},{"qty":2.5},{"qty":1e2},{"qty":99999999999999999999},"x",{"product_id":{}}]}`), &o)
	want := []string{"customer_id", "items[1].qty", "items[2].qty", "items[3].qty", "items[4].qty", "items[5]", "items[6].product_id"}
	if err != nil || !slices.Equal(named(t, fields.Err()), want) {
		t.Fatalf("fields %v, err %v; want %v", fields, err, want)
	}
	if len(o.Items) != 7 || *o.Items[0].Qty != 1 {
		t.Fatalf("items %+v: the well-typed ones must be read", o.Items)
	}
	var p productPatch
	fields, err = readJSON([]byte(`{"name":null,"price_cents":"1","stock":3}`), &p)
	if err != nil || !slices.Equal(named(t, fields.Err()), []string{"price_cents"}) ||
		!p.Name.Set || !p.Name.Null || !p.Stock.Set || p.Stock.Value != 3 {
		t.Fatalf("patch %+v, fields %v, err %v", p, fields, err)
	}
}

func TestReadJSONRefusesBadText(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		field      string
	}{
		{"lone high surrogate", `{"name":"\ud800"}`, "name"},
		{"lone low surrogate", `{"name":"a\udc00b"}`, "name"},
		{"surrogate then a letter", `{"name":"\ud800\u0041"}`, "name"},
		{"invalid byte", "{\"name\":\"\xff\"}", "name"},
		{"truncated sequence", "{\"name\":\"a\xc3\"}", "name"},
		{"encoded surrogate", "{\"name\":\"\xed\xa0\x80\"}", "name"},
		{"bad name", `{"\ud800":1}`, "body"},
		{"raw control character", "{\"name\":\"a\x01\"}", "name"},
		{"two values", `{"name":"a"} {}`, "body"},
		{"trailing garbage", `{"name":"a"}}`, "body"},
		{"truncated", `{"name":`, "name"},
		{"empty", ``, "body"},
		{"only spaces", `   `, "body"},
		{"not an object", `[1]`, "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c customerBody
			fields, err := readJSON([]byte(tc.body), &c)
			if err == nil {
				err = fields.Err()
			}
			if got := named(t, err); !slices.Equal(got, []string{tc.field}) || errs.CodeOf(err) != errs.Invalid {
				t.Fatalf("%v: fields %v, want [%s]", err, got, tc.field)
			}
		})
	}
}

func TestJoinFields(t *testing.T) {
	read := errs.Fields{{Field: "items[1]", Message: "must be a JSON object"}, {Field: "name", Message: "must be a string"}}
	var v errs.Fields
	v.Add("name", "must be 1 to 100 characters")
	v.Add("items[1].qty", "is required")
	v.Add("items[10].qty", "is required")
	v.Add("email", "is required")
	v.Add("body", "must set a field")
	got := named(t, joinFields(read, v.Err(), "body"))
	if want := []string{"items[1]", "name", "items[10].qty", "email"}; !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	if err := joinFields(nil, nil); err != nil {
		t.Fatal(err)
	}
	other := errs.New(errs.NotFound, "gone")
	if err := joinFields(nil, other); err != other {
		t.Fatalf("%v, want the validation's own error", err)
	}
}

// TestTooLargeIsDrainedAndCloses: the handler reads what is left of a body
// over the limit (up to a bound) before answering, and closes the
// connection after the answer.
func TestTooLargeIsDrainedAndCloses(t *testing.T) {
	for _, size := range []int{MaxBodyBytes + 1, 2 << 20, MaxBodyBytes + maxDrainBytes} {
		body := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte("x"), size))}
		req := httptest.NewRequest(http.MethodPost, "/customers", body)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		var c customerBody
		_, err := readBody(rec, req, &c)
		if errs.CodeOf(err) != errs.PayloadTooLarge {
			t.Fatalf("size %d: %v, want payload_too_large", size, err)
		}
		if body.n != size {
			t.Errorf("size %d: read %d bytes, want all of it", size, body.n)
		}
		if rec.Header().Get("Connection") != "close" {
			t.Errorf("size %d: Connection %q, want close", size, rec.Header().Get("Connection"))
		}
	}
	// Unknown length (a body the framing layer let through): read to the
	// limit, then drained.
	body := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte("x"), 3<<20))}
	req := httptest.NewRequest(http.MethodPost, "/customers", body)
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	var c customerBody
	if _, err := readBody(rec, req, &c); errs.CodeOf(err) != errs.PayloadTooLarge || body.n != 3<<20 {
		t.Fatalf("%v after %d bytes, want payload_too_large after all of them", err, body.n)
	}
}

type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestProblemNamesEveryField runs whole requests through a handler.
func TestProblemNamesEveryField(t *testing.T) {
	h := &CustomerHandler{} // refused before any use case runs
	req := httptest.NewRequest(http.MethodPost, "/customers", strings.NewReader(`{"name":5,"email":"nope","Phone":"1"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	handlerFunc(h.create).ServeHTTP(rec, req)
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Code != 400 || p.Code != errs.Invalid {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	got := []string{}
	for _, f := range p.Errors {
		got = append(got, f.Field)
	}
	if want := []string{"name", "Phone", "email"}; !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
}
