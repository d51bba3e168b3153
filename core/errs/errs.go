// Package errs is the one error type that crosses every boundary of the
// platform: use cases return it, adapters translate driver and wire errors
// into it, and the HTTP adapter maps its Code to a status with one table.
package errs

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Code is a stable, snake_case word a client can branch on.
type Code string

// The codes clients see. Adding one means adding its status to the HTTP
// adapter's table too.
const (
	Invalid                  Code = "validation_failed"
	NotFound                 Code = "not_found"
	EmailTaken               Code = "email_taken"
	SKUTaken                 Code = "sku_taken"
	InsufficientStock        Code = "insufficient_stock"
	CustomerNotFound         Code = "customer_not_found"
	ProductNotFound          Code = "product_not_found"
	InvalidTransition        Code = "invalid_transition"
	CancelWindowExpired      Code = "cancel_window_expired"
	IdempotencyKeyReused     Code = "idempotency_key_reused"
	IdempotencyKeyInProgress Code = "idempotency_key_in_progress"
	PreconditionFailed       Code = "precondition_failed"
	Unauthorized             Code = "unauthorized"
	Forbidden                Code = "forbidden"
	PayloadTooLarge          Code = "payload_too_large"
	UnsupportedMediaType     Code = "unsupported_media_type"
	DependencyUnavailable    Code = "dependency_unavailable"
	DependencyTimeout        Code = "dependency_timeout"
	Internal                 Code = "internal"
)

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a failure a client is allowed to see. Message is safe to show;
// Details carries structured context such as the short lines of an order.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Details any
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s %v", e.Code, e.Message, e.Fields)
}

// New returns an Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal
// for anything else: an error nobody classified must not leak detail.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool {
	return err != nil && CodeOf(err) == code
}

// Fields collects field errors so that a caller reports all of them at once.
type Fields []FieldError

// Add records a problem with one field.
func (f *Fields) Add(field, format string, args ...any) {
	*f = append(*f, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns a validation error holding every recorded field, or nil.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Code: Invalid, Message: "the request has invalid fields", Fields: f}
}

// Text checks that a text field is valid UTF-8 without control characters
// (C0, DEL and C1), which cannot be shown, printed or searched for, and
// records the problem if it is not.
func (f *Fields) Text(field, s string) bool {
	switch {
	case !utf8.ValidString(s):
		f.Add(field, "must be valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		f.Add(field, "must not contain control characters")
	default:
		return true
	}
	return false
}
