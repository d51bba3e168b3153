package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/b2borders/platform/core/errs"
)

// Request bodies are read strictly, in two passes over at most
// MaxBodyBytes.
//
// The text first: it must be one JSON value (RFC 8259) of valid UTF-8, with
// no lone surrogate escaped in a string ("\ud800") and no member name twice
// in one object, names compared after unescaping. Any of these refuses the
// whole body, naming where it went wrong.
//
// Then the members, against the Go struct the endpoint reads: a name must
// be one of the struct's json names exactly, byte for byte (no case
// folding, no Unicode folding: "Qty", "QTY" and "ſku" are unknown names),
// and a value must have the field's type. Every unknown name and every
// wrong type is reported, with its path (items[2].qty), and the members
// that were read well are kept, so that an endpoint can report them
// together with what validation finds in the rest.

// maxDrainBytes bounds how much of a body over MaxBodyBytes is read and
// thrown away before the 413 is sent, and drainTimeout how long that may
// take. A client that sends its whole body before it reads the answer
// would otherwise find the connection reset while it is still sending,
// and never read the 413.
const (
	maxDrainBytes = 4 << 20
	drainTimeout  = 5 * time.Second
)

// maxFieldErrors bounds the field errors one body can produce.
const maxFieldErrors = 100

// readBody reads r's JSON body into v, a pointer to a struct, strictly.
// err refuses the body as a whole: missing, too large, not JSON, or not
// valid JSON text. fields lists every unknown member and every member of
// the wrong type; v holds the others.
func readBody(w http.ResponseWriter, r *http.Request, v any) (fields errs.Fields, err error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, refuseTooLarge(w, r)
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil, bodyError("a JSON request body is required")
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return nil, errs.New(errs.UnsupportedMediaType, "the request body must be application/json")
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, refuseTooLarge(w, r)
		}
		return nil, bodyError("the request body could not be read whole")
	}
	return readJSON(raw, v)
}

// refuseTooLarge answers a body over the limit: it reads and drops up to
// maxDrainBytes more of it, so that a client still sending finds the
// connection open and reads the answer, and closes the connection after
// the answer.
func refuseTooLarge(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Connection", "close")
	if r.Body != nil && r.ContentLength <= MaxBodyBytes+maxDrainBytes {
		// Not every writer has a connection (the Lambda's has none).
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(drainTimeout))
		io.CopyN(io.Discard, r.Body, maxDrainBytes)
	}
	return tooLarge()
}

// bodyError is a refusal of the body as a whole, named as the field "body".
func bodyError(message string) error {
	var fe errs.Fields
	fe.Add("body", "%s", message)
	return fe.Err()
}

// readJSON reads raw, a whole request body, into v as readBody does.
func readJSON(raw []byte, v any) (errs.Fields, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.ReadValue(); err != nil {
		return nil, textError(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, bodyError("must hold a single JSON value")
	}
	rd := &memberReader{dec: jsontext.NewDecoder(bytes.NewReader(raw))}
	if rd.dec.PeekKind() != '{' {
		return nil, bodyError("must be a JSON object")
	}
	rd.read("", reflect.ValueOf(v).Elem())
	if rd.err != nil {
		// The text was checked above, so reading it again cannot fail.
		return nil, fmt.Errorf("read a checked request body again: %w", rd.err)
	}
	return rd.fields, nil
}

// textError names what is wrong with a body's JSON text, and where.
func textError(err error) error {
	if err == io.EOF {
		return bodyError("a JSON request body is required")
	}
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		return bodyError("is not valid JSON")
	}
	var fe errs.Fields
	field := pointerPath(se.JSONPointer)
	switch msg := se.Err.Error(); {
	case errors.Is(se.Err, jsontext.ErrDuplicateName):
		fe.Add(field, "appears more than once")
	case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "surrogate"):
		fe.Add(field, "must be valid UTF-8 text, without lone surrogates such as \\ud800")
	case errors.Is(se.Err, io.ErrUnexpectedEOF):
		fe.Add(field, "is not valid JSON: the body ends in the middle of a value")
	default:
		fe.Add(field, "is not valid JSON (at byte %d)", se.ByteOffset)
	}
	return fe.Err()
}

// pointerPath turns a JSON pointer into the path a field error names:
// /items/2/qty is items[2].qty; the empty pointer is the body.
func pointerPath(p jsontext.Pointer) string {
	var b strings.Builder
	first := true
	for tok := range p.Tokens() {
		switch _, err := strconv.Atoi(tok); {
		case !first && err == nil:
			b.WriteString("[" + tok + "]")
		case first:
			b.WriteString(shortName(tok))
		default:
			b.WriteString("." + shortName(tok))
		}
		first = false
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

// shortName keeps a member name a client sent short enough to echo back.
func shortName(name string) string {
	const max = 64
	if utf8.RuneCountInString(name) <= max {
		return name
	}
	return string([]rune(name)[:max]) + "…"
}

// optional is a field that records whether it was present and null, as
// Optional does.
type optional interface {
	present(null bool) reflect.Value
}

// present records that the member was sent, and returns where its value
// goes.
func (o *Optional[T]) present(null bool) reflect.Value {
	o.Set, o.Null = true, null
	return reflect.ValueOf(&o.Value).Elem()
}

// memberReader reads JSON text that is known to be valid into Go values,
// recording every member it cannot place.
type memberReader struct {
	dec    *jsontext.Decoder
	fields errs.Fields
	err    error
}

func (m *memberReader) report(path, format string, args ...any) {
	if path == "" {
		path = "body"
	}
	switch {
	case len(m.fields) < maxFieldErrors:
		m.fields.Add(path, format, args...)
	case len(m.fields) == maxFieldErrors:
		m.fields.Add("body", "has more invalid fields than are listed")
	}
}

func (m *memberReader) fail(err error) {
	if m.err == nil && err != nil {
		m.err = err
	}
}

// wrongType reports the value at path as not of the kind the field needs
// and skips it.
func (m *memberReader) wrongType(path, kind string) {
	m.report(path, "must be %s", kind)
	m.fail(m.dec.SkipValue())
}

// read reads the next value into v. null leaves v as it is (absent), but
// for an Optional, which records it.
func (m *memberReader) read(path string, v reflect.Value) {
	if m.err != nil {
		return
	}
	kind := m.dec.PeekKind()
	if o, ok := v.Addr().Interface().(optional); ok {
		if kind == 'n' {
			o.present(true)
			m.fail(m.dec.SkipValue())
			return
		}
		v = o.present(false)
	}
	if kind == 'n' {
		m.fail(m.dec.SkipValue())
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		m.read(path, v.Elem())
	case reflect.String:
		if kind != '"' {
			m.wrongType(path, "a string")
			return
		}
		tok, err := m.dec.ReadToken()
		m.fail(err)
		v.SetString(tok.String())
	case reflect.Int64:
		if kind != '0' {
			m.wrongType(path, "a whole number")
			return
		}
		val, err := m.dec.ReadValue()
		m.fail(err)
		n, err := strconv.ParseInt(string(val), 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange):
			m.report(path, "must be a whole number from %d to %d", int64(math.MinInt64), int64(math.MaxInt64))
		case err != nil:
			m.report(path, "must be a whole number")
		default:
			v.SetInt(n)
		}
	case reflect.Slice:
		if kind != '[' {
			m.wrongType(path, "an array")
			return
		}
		_, err := m.dec.ReadToken()
		m.fail(err)
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		for i := 0; m.err == nil && m.dec.PeekKind() != ']'; i++ {
			v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
			m.read(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
		_, err = m.dec.ReadToken()
		m.fail(err)
	case reflect.Struct:
		if kind != '{' {
			m.wrongType(path, "a JSON object")
			return
		}
		_, err := m.dec.ReadToken()
		m.fail(err)
		for m.err == nil && m.dec.PeekKind() != '}' {
			tok, err := m.dec.ReadToken()
			m.fail(err)
			name := tok.String()
			i, known := fieldIndex(v.Type(), name)
			if !known {
				m.unknown(v.Type(), join(path, shortName(name)), name)
				m.fail(m.dec.SkipValue())
				continue
			}
			m.read(join(path, name), v.Field(i))
		}
		_, err = m.dec.ReadToken()
		m.fail(err)
	default:
		m.fail(fmt.Errorf("httpapi: a request body cannot hold a %s", v.Type()))
	}
}

// unknown reports a member name t does not have, with the name it
// differs from only by case, if there is one.
func (m *memberReader) unknown(t reflect.Type, path, name string) {
	for i := range t.NumField() {
		if known := jsonName(t.Field(i)); known != "" && strings.EqualFold(known, name) {
			m.report(path, "is not a known field; names are case-sensitive: did you mean %q?", known)
			return
		}
	}
	m.report(path, "is not a known field")
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fieldIndex finds the field of t whose json name is exactly name.
func fieldIndex(t reflect.Type, name string) (int, bool) {
	for i := range t.NumField() {
		if n := jsonName(t.Field(i)); n != "" && n == name {
			return i, true
		}
	}
	return 0, false
}

// jsonName is the name a struct field has in JSON; "" for fields that are
// not read.
func jsonName(f reflect.StructField) string {
	tag, ok := f.Tag.Lookup("json")
	if !ok || !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}

// joinFields returns the field errors read found in a body together with
// those validation reports on what was read well, leaving out the ones on
// a field read already named, on a field inside one (items[1] covers
// items[1].qty) and on the fields of skip; nil when there are none. An
// error of validation's that names no field is returned as it is when read
// found nothing.
func joinFields(read errs.Fields, validation error, skip ...string) error {
	var e *errs.Error
	if validation != nil && (!errors.As(validation, &e) || e.Code != errs.Invalid || len(e.Fields) == 0) {
		if len(read) == 0 {
			return validation
		}
		e = nil
	}
	out := slices.Clone(read)
	if e != nil {
		for _, f := range e.Fields {
			if !covered(f.Field, read, skip) {
				out = append(out, f)
			}
		}
	}
	return out.Err()
}

// covered reports whether field is one of read's or skip's, or inside one;
// a refusal of the whole body covers every field.
func covered(field string, read errs.Fields, skip []string) bool {
	inside := func(outer string) bool {
		return field == outer || strings.HasPrefix(field, outer+".") || strings.HasPrefix(field, outer+"[")
	}
	for _, f := range read {
		if f.Field == "body" || inside(f.Field) {
			return true
		}
	}
	return slices.ContainsFunc(skip, inside)
}
