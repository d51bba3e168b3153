// Package shell is what every deployable shell shares: reading its
// configuration from the environment, logging, serving HTTP inside the fx
// lifecycle, and the healthcheck subcommand container images call.
package shell

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"
)

// Env reads configuration variables and keeps every problem, so a shell
// can read everything it needs and then fail naming each variable at
// fault, one line each.
type Env struct {
	lookup func(string) (string, bool)
	errs   []error
}

// NewEnv reads from lookup; nil reads the process environment.
func NewEnv(lookup func(string) (string, bool)) *Env {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &Env{lookup: lookup}
}

// MapEnv reads from a map, for tests and embedded use.
func MapEnv(m map[string]string) *Env {
	return NewEnv(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
}

// Err returns every problem found, one line each, each naming its
// variable: "config: JWT_SECRET is required".
func (e *Env) Err() error { return errors.Join(e.errs...) }

func (e *Env) fail(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("config: %s %s", name, fmt.Sprintf(format, args...)))
}

func (e *Env) get(name string) (string, bool) {
	v, ok := e.lookup(name)
	return v, ok && v != ""
}

// String returns name's value, or def when it is unset.
func (e *Env) String(name, def string) string {
	if v, ok := e.get(name); ok {
		return v
	}
	return def
}

// Secret returns name's value, which must be set and at least minLen long.
// The value itself never appears in an error.
func (e *Env) Secret(name string, minLen int) string {
	v, ok := e.get(name)
	switch {
	case !ok:
		e.fail(name, "is required")
	case len(v) < minLen:
		e.fail(name, "must be at least %d characters long", minLen)
	}
	return v
}

// Required returns name's value, which must be set, after check accepts it.
func (e *Env) Required(name string, check func(string) error) string {
	v, ok := e.get(name)
	if !ok {
		e.fail(name, "is required")
		return ""
	}
	if check != nil {
		if err := check(v); err != nil {
			e.fail(name, "is invalid: %v", err)
		}
	}
	return v
}

// Port returns name as a TCP port, or def when unset; 0 picks a free port.
func (e *Env) Port(name string, def int) int {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		e.fail(name, "must be a port number from 0 to 65535, not %q", v)
	}
	return n
}

// Duration returns name as a positive Go duration ("10m", "24h"), or def.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.fail(name, "must be a positive duration such as 10m or 24h, not %q", v)
	}
	return d
}

// DurationOrOff returns name as a Go duration that is positive, or 0 to
// turn off what it times ("30m", "0"), or def when unset.
func (e *Env) DurationOrOff(name string, def time.Duration) time.Duration {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		e.fail(name, "must be a positive duration such as 30m, or 0 for off, not %q", v)
		return def
	}
	return d
}

// URL returns name as an absolute http(s) URL.
func (e *Env) URL(name string) string {
	return e.Required(name, CheckURL)
}

// Optional returns name's value, or "" when it is unset; a set value must
// pass check.
func (e *Env) Optional(name string, check func(string) error) string {
	v, ok := e.get(name)
	if !ok {
		return ""
	}
	if check != nil {
		if err := check(v); err != nil {
			e.fail(name, "is invalid: %v", err)
		}
	}
	return v
}

// Int returns name as a whole number from lo to hi, or def when unset.
func (e *Env) Int(name string, def, lo, hi int) int {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.fail(name, "must be a whole number from %d to %d, not %q", lo, hi, v)
	}
	return n
}

// Fail records a problem with name that the reader found itself, such as
// a variable that another one makes required.
func (e *Env) Fail(name, format string, args ...any) {
	e.fail(name, format, args...)
}

// CheckURL accepts an absolute http(s) URL.
func CheckURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an absolute http(s) URL")
	}
	return nil
}
