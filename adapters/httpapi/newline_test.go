package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// Every JSON answer ends with one newline; a stored body gets it on the way
// out, so that a replay is the first answer byte for byte; YAML is sent as
// it is.
func TestJSONAnswersEndWithANewline(t *testing.T) {
	w := httptest.NewRecorder()
	respond(w, 200, map[string]int{"a": 1})
	if got := w.Body.String(); got != "{\"a\":1}\n" {
		t.Errorf("respond: %q", got)
	}
	stored := []byte(`{"id":"x"}`)
	first, replay := httptest.NewRecorder(), httptest.NewRecorder()
	writeBody(first, 200, "application/json", stored)
	writeBody(replay, 200, "application/json", stored)
	if first.Body.String() != "{\"id\":\"x\"}\n" || replay.Body.String() != first.Body.String() || string(stored) != `{"id":"x"}` {
		t.Errorf("stored body: %q, then %q; stored %q", first.Body, replay.Body, stored)
	}
	w = httptest.NewRecorder()
	writeBody(w, 200, ProblemContentType, []byte("{}\n"))
	if w.Body.String() != "{}\n" {
		t.Errorf("a body with its newline got another: %q", w.Body)
	}
	w = httptest.NewRecorder()
	writeBody(w, 200, "application/yaml", []byte("openapi: 3.0.3"))
	if strings.HasSuffix(w.Body.String(), "\n") {
		t.Errorf("YAML changed: %q", w.Body)
	}
}
