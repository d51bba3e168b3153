package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/b2borders/platform/core/errs"
)

// methodNotAllowed is the code of a request whose path exists but not for
// its method: a fault of the HTTP exchange, which the core never reports.
const methodNotAllowed errs.Code = "method_not_allowed"

// statusOf is the one table from domain codes to HTTP statuses.
var statusOf = map[errs.Code]int{
	errs.Invalid:                  http.StatusBadRequest,
	errs.Unauthorized:             http.StatusUnauthorized,
	errs.Forbidden:                http.StatusForbidden,
	errs.NotFound:                 http.StatusNotFound,
	errs.EmailTaken:               http.StatusConflict,
	errs.SKUTaken:                 http.StatusConflict,
	errs.InsufficientStock:        http.StatusConflict,
	errs.InvalidTransition:        http.StatusConflict,
	errs.CancelWindowExpired:      http.StatusConflict,
	errs.IdempotencyKeyInProgress: http.StatusConflict,
	errs.PreconditionFailed:       http.StatusPreconditionFailed,
	errs.PayloadTooLarge:          http.StatusRequestEntityTooLarge,
	errs.UnsupportedMediaType:     http.StatusUnsupportedMediaType,
	errs.CustomerNotFound:         http.StatusUnprocessableEntity,
	errs.ProductNotFound:          http.StatusUnprocessableEntity,
	errs.IdempotencyKeyReused:     http.StatusUnprocessableEntity,
	errs.DependencyUnavailable:    http.StatusServiceUnavailable,
	errs.DependencyTimeout:        http.StatusServiceUnavailable,
	errs.Internal:                 http.StatusInternalServerError,
	methodNotAllowed:              http.StatusMethodNotAllowed,
}

// StatusOf returns the HTTP status for a domain code.
func StatusOf(code errs.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ProblemType is the URI prefix of every problem type; the code follows it.
const ProblemType = "/problems/"

// ProblemContentType is the media type of every error body.
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail"`
	Instance  string            `json:"instance"`
	Code      errs.Code         `json:"code"`
	RequestID string            `json:"request_id"`
	Errors    []errs.FieldError `json:"errors,omitempty"`
	Details   any               `json:"details,omitempty"`
}

// retryAfterSeconds is what a client is told to wait when a dependency is
// down: long enough for a restart, short enough not to stall a retry loop.
const retryAfterSeconds = "5"

// writeError answers with the problem err stands for. Errors that carry no
// domain code are logged here, once, and reach the client as a bare
// "internal error".
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *errs.Error
	if !errors.As(err, &e) {
		slog.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()), "error", err.Error())
		e = &errs.Error{Code: errs.Internal, Message: "internal error"}
	}
	status := StatusOf(e.Code)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
		// The client is told which dependency failed; the cause is for us.
		slog.WarnContext(r.Context(), "dependency failed", "request_id", RequestID(r.Context()), "error", err.Error())
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="b2b-orders"`)
	}
	writeJSON(w, status, ProblemContentType, Problem{
		Type:      ProblemType + string(e.Code),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    e.Message,
		Instance:  r.URL.Path,
		Code:      e.Code,
		RequestID: RequestID(r.Context()),
		Errors:    e.Fields,
		Details:   e.Details,
	})
}
