package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/b2borders/platform/core/errs"
)

// MaxBodyBytes is the largest request body any endpoint reads.
const MaxBodyBytes = 1 << 20

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeBody(w, status, contentType, body)
}

func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(body)
}

func respond(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, "application/json", v)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// decode reads a JSON body into v strictly: one JSON value, no unknown
// fields, at most MaxBodyBytes.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength > MaxBodyBytes {
		return tooLarge()
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return errs.New(errs.Invalid, "a JSON request body is required")
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return errs.New(errs.UnsupportedMediaType, "the request body must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		return errs.New(errs.Invalid, "the request body must hold a single JSON value")
	}
	return nil
}

func tooLarge() error {
	return errs.New(errs.PayloadTooLarge, "the request body exceeds %d bytes", MaxBodyBytes)
}

// decodeError turns what encoding/json reports into a message that names the
// offending field without echoing Go types.
func decodeError(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge()
	case errors.Is(err, io.EOF):
		return errs.New(errs.Invalid, "a JSON request body is required")
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return errs.New(errs.Invalid, "the request body is not valid JSON")
	case errors.As(err, &te):
		f := errs.Fields{}
		f.Add(te.Field, "must be a %s", jsonKind(te.Type.Kind().String()))
		return f.Err()
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		f := errs.Fields{}
		f.Add(name, "is not a known field")
		return f.Err()
	default:
		var fe *errs.Error
		if errors.As(err, &fe) {
			return fe
		}
		return errs.New(errs.Invalid, "the request body could not be read: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "whole number"
	case "float32", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	default:
		return fmt.Sprintf("JSON %s", map[bool]string{true: "object", false: "value"}[goKind == "struct" || goKind == "map"])
	}
}

// Optional is a JSON field that tells "absent" from "null" from a value, as
// a partial update needs.
type Optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON is called only for fields present in the body.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}
