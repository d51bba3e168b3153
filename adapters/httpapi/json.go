package httpapi

import (
	"bytes"
	"encoding/json"
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

// writeBody answers with body. A JSON body ends with a newline, as terminal
// users and line-oriented tools expect; a stored one (a confirm replay) gets
// it here too, so that a replay stays byte for byte the first answer.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	if isJSON(contentType) && !bytes.HasSuffix(body, []byte("\n")) {
		body = append(body[:len(body):len(body)], '\n')
	}
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

// decode reads a JSON body into v strictly (see readBody), refusing it
// with every unknown or mistyped member named.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	fields, err := readBody(w, r, v)
	if err != nil {
		return err
	}
	return fields.Err()
}

func tooLarge() error {
	return errs.New(errs.PayloadTooLarge, "the request body exceeds %d bytes", MaxBodyBytes)
}

// Optional is a JSON field that tells "absent" from "null" from a value, as
// a partial update needs.
type Optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}
