package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/b2borders/platform/core/errs"
)

// The fuzz targets feed arbitrary bytes to the reader of each request body.
// Their seeds are under testdata/fuzz; `go test` runs the seeds, `make
// fuzz` runs each target for a while. What every outcome must be:
//   - no panic;
//   - a refusal is a validation_failed naming at least one field, every
//     field and message non-empty, at most maxFieldErrors+1 of them;
//   - an accepted body is valid UTF-8 and valid JSON, and reads as
//     encoding/json reads it (where names match exactly and appear once,
//     the two must agree on every value).

func FuzzOrderBody(f *testing.F)       { fuzzBody[orderBody](f, true) }
func FuzzCustomerBody(f *testing.F)    { fuzzBody[customerBody](f, true) }
func FuzzCustomerPatch(f *testing.F)   { fuzzBody[customerPatch](f, false) }
func FuzzProductBody(f *testing.F)     { fuzzBody[productBody](f, true) }
func FuzzProductPatch(f *testing.F)    { fuzzBody[productPatch](f, false) }
func FuzzOrchestrateBody(f *testing.F) { fuzzBody[orchestrateBody](f, true) }
func FuzzAdjustmentBody(f *testing.F)  { fuzzBody[adjustmentBody](f, true) }

// fuzzBody fuzzes the reader of body type T; oracle says whether
// encoding/json can read T to compare with (it cannot read Optional).
func fuzzBody[T any](f *testing.F, oracle bool) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v T
		fields, err := readJSON(raw, &v)
		if err == nil {
			err = fields.Err()
		}
		if err != nil {
			checkRefusal(t, raw, err)
			return
		}
		if !utf8.Valid(raw) || !json.Valid(raw) {
			t.Fatalf("accepted %q, which is not valid UTF-8 JSON", raw)
		}
		if !oracle {
			return
		}
		var want T
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", raw, err)
		}
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("read %q as %#v, encoding/json as %#v", raw, v, want)
		}
	})
}

func checkRefusal(t *testing.T, raw []byte, err error) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Invalid || len(e.Fields) == 0 {
		t.Fatalf("%q refused with %v: want validation_failed naming fields", raw, err)
	}
	if len(e.Fields) > maxFieldErrors+1 {
		t.Fatalf("%q: %d field errors, more than the bound", raw, len(e.Fields))
	}
	for _, f := range e.Fields {
		if f.Field == "" || f.Message == "" || !utf8.ValidString(f.Field) {
			t.Fatalf("%q: field error %+v names nothing, says nothing or is not UTF-8", raw, f)
		}
	}
}
