// Package upstream calls the platform's own HTTP services: it bounds each
// attempt by a timeout and by the caller's deadline, retries transient
// failures with jittered backoff, forwards the correlation id, and turns
// problem+json answers back into domain errors, so that a use case cannot
// tell a remote service from a local store. Every attempt is a client span
// (otelhttp), named by the path with its ids as {id}, and carries the W3C
// trace context to the service.
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/b2borders/platform/adapters/tracing"
	"github.com/b2borders/platform/core/correlation"
	"github.com/b2borders/platform/core/errs"
)

// Config says where a service is and how patiently to call it.
type Config struct {
	// Name is the service's name in error messages, e.g. "customers-api".
	Name string
	// BaseURL is the service's root, e.g. http://localhost:3001.
	BaseURL string
	// Token is sent as the bearer token: the service token.
	Token string
	// Timeout bounds one attempt; zero means DefaultTimeout.
	Timeout time.Duration
	// Attempts bounds tries of one call; zero means DefaultAttempts.
	Attempts int
	// HTTP is the client to use; nil means a shared pooled client.
	HTTP *http.Client
	// Traces makes a client span for every attempt; nil makes none, and
	// the caller's trace context is still passed on.
	Traces trace.TracerProvider
}

// Defaults for Config's zero fields.
const (
	DefaultTimeout  = 3 * time.Second
	DefaultAttempts = 3
)

// baseBackoff is the first pause between attempts; it doubles each time.
const baseBackoff = 50 * time.Millisecond

// Client calls one service. Every call it makes must be safe to repeat:
// reads, and writes that carry an idempotency key.
type Client struct {
	cfg Config
}

var defaultHTTP = &http.Client{Transport: &http.Transport{
	Proxy:               http.ProxyFromEnvironment,
	MaxIdleConns:        256,
	MaxIdleConnsPerHost: 128,
	IdleConnTimeout:     90 * time.Second,
}}

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.HTTP == nil {
		cfg.HTTP = defaultHTTP
	}
	if tracing.Enabled(cfg.Traces) {
		cfg.HTTP = traced(cfg.HTTP, cfg.Name, cfg.Traces)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &Client{cfg: cfg}
}

// traced returns a copy of hc whose every request is a client span of
// tp's (a provider that records), named "METHOD /path/{id}" (see Template), with the trace context in
// its headers. The connection pool stays hc's.
func traced(hc *http.Client, service string, tp trace.TracerProvider) *http.Client {
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out := *hc
	out.Transport = otelhttp.NewTransport(annotate{base: base, service: service},
		otelhttp.WithTracerProvider(tracing.Provider(tp)),
		otelhttp.WithPropagators(tracing.Propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return r.Method + " " + Template(r.URL.Path)
		}),
	)
	return &out
}

// annotate runs inside the attempt's span and adds what otelhttp cannot
// know: the path template, the service called and, for a retry, which
// resend it is.
type annotate struct {
	base    http.RoundTripper
	service string
}

type resendKey struct{}

func (a annotate) RoundTrip(r *http.Request) (*http.Response, error) {
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		span.SetAttributes(semconv.URLTemplate(Template(r.URL.Path)), semconv.ServicePeerName(a.service))
		if n, _ := r.Context().Value(resendKey{}).(int); n > 0 {
			span.SetAttributes(semconv.HTTPRequestResendCount(n))
		}
	}
	return a.base.RoundTrip(r)
}

// Template is path with every segment that is a UUID replaced by {id}:
// "/orders/0192…/confirm" is "/orders/{id}/confirm". Span names stay few,
// and ids go to attributes (url.full), never to names.
func Template(path string) string {
	if !strings.Contains(path, "-") {
		return path
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if len(s) == 36 && uuid.Validate(s) == nil {
			segs[i] = "{id}"
		}
	}
	return strings.Join(segs, "/")
}

// Response is a successful answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request with an optional JSON body and returns a 2xx answer.
// Any other answer is a domain error: the service's own problem when it sent
// one, errs.DependencyUnavailable when it could not be reached or kept
// failing, errs.DependencyTimeout when the caller's time ran out.
func (c *Client) Do(ctx context.Context, method, path string, header http.Header, body any) (Response, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return Response{}, err
		}
	}
	var lastErr error
	for attempt := 1; attempt <= c.cfg.Attempts; attempt++ {
		if attempt > 1 {
			pause := baseBackoff << (attempt - 2)
			select {
			case <-time.After(pause/2 + rand.N(pause)):
			case <-ctx.Done():
				return Response{}, c.timeout(lastErr)
			}
		}
		actx := ctx
		if attempt > 1 {
			actx = context.WithValue(ctx, resendKey{}, attempt-1)
		}
		res, err, transient := c.once(actx, method, path, header, payload)
		if !transient {
			return res, err
		}
		lastErr = err
		if ctx.Err() != nil {
			return Response{}, c.timeout(lastErr)
		}
	}
	if isTimeout(lastErr) {
		return Response{}, c.timeout(lastErr)
	}
	return Response{}, c.unavailable(lastErr)
}

// The errors below say which service failed in words a client may see; the
// cause (addresses, dial errors) is wrapped behind them for the log only.

func (c *Client) timeout(cause error) error {
	return fmt.Errorf("%w: %v", errs.New(errs.DependencyTimeout, "%s did not answer in time", c.cfg.Name), cause)
}

func (c *Client) unavailable(cause error) error {
	return fmt.Errorf("%w: %v", errs.New(errs.DependencyUnavailable, "%s is unavailable", c.cfg.Name), cause)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// once makes one attempt and says whether its failure is worth another.
func (c *Client) once(ctx context.Context, method, path string, header http.Header, payload []byte) (Response, error, bool) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, rd)
	if err != nil {
		return Response{}, err, false
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if id := correlation.ID(ctx); id != "" {
		req.Header.Set("X-Request-ID", id)
		req.Header.Set("X-Correlation-ID", id)
	}
	// The caller's trace context; with tracing on, the attempt's span
	// replaces it with its own.
	tracing.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	res, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return Response{}, err, true
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return Response{}, err, true
	}
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return Response{Status: res.StatusCode, Header: res.Header, Body: b}, nil, false
	case res.StatusCode == http.StatusBadGateway, res.StatusCode == http.StatusServiceUnavailable, res.StatusCode == http.StatusGatewayTimeout:
		return Response{}, fmt.Errorf("%s answered %d", c.cfg.Name, res.StatusCode), true
	default:
		return Response{}, c.problem(res.StatusCode, b), false
	}
}

type problem struct {
	Code    errs.Code         `json:"code"`
	Detail  string            `json:"detail"`
	Errors  []errs.FieldError `json:"errors"`
	Details json.RawMessage   `json:"details"`
}

// problem turns an error answer back into the domain error it stands for.
// Unexpected answers become errs.DependencyUnavailable: the caller cannot
// fix them, and the service's internals stay out of the message.
func (c *Client) problem(status int, body []byte) error {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		// Our own credentials were refused: a deployment fault, never the
		// caller's 401 or 403, so it stays unclassified and is logged as an
		// internal error.
		return fmt.Errorf("%s refused the service token (status %d)", c.cfg.Name, status)
	}
	var p problem
	if err := json.Unmarshal(body, &p); err != nil || p.Code == "" || p.Code == errs.Internal {
		return c.unavailable(fmt.Errorf("status %d", status))
	}
	e := &errs.Error{Code: p.Code, Message: p.Detail, Fields: p.Errors}
	if len(p.Details) > 0 {
		e.Details = p.Details
	}
	return e
}

// IsTransient reports whether err is worth retrying later as a whole.
func IsTransient(err error) bool {
	var e *errs.Error
	return errors.As(err, &e) && (e.Code == errs.DependencyUnavailable || e.Code == errs.DependencyTimeout)
}
