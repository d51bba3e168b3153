// Package awslambda serves an http.Handler to API Gateway HTTP API events
// (payload format 2.0), so that one handler runs both as a local server and
// as an AWS Lambda function.
package awslambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	platformtracing "github.com/b2borders/platform/adapters/tracing"
)

// DefaultReserve is the part of an invocation's remaining time kept back
// from the handler, so that a handler whose calls ran out of time can still
// answer before the Lambda runtime cuts the invocation off.
const DefaultReserve = 500 * time.Millisecond

// Function is what lambda.Start runs for an HTTP API.
type Function func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Tracing is how a Function traces its invocations.
type Tracing struct {
	// Provider makes the invocation spans; nil makes none, and the event's
	// traceparent reaches the handler as it came.
	Provider trace.TracerProvider
	// Flush exports the spans ended so far; the Function calls it before
	// every invocation returns, since the execution environment may be
	// frozen, and its batched spans lost, as soon as it has. Nil skips it.
	Flush func(context.Context) error
}

// Handler returns a Function that serves each event with h. The request's
// context ends reserve before the invocation's deadline (at most a quarter
// of the time left), which bounds every call h makes.
//
// With tracing, every invocation is a server span, the child of the
// traceparent the event's headers carry or else a trace's root, and h gets
// the request with that span as its traceparent, so h's own spans are the
// invocation's children. The spans are flushed before it returns, in the
// time kept back.
func Handler(h http.Handler, reserve time.Duration, tracing ...Tracing) Function {
	var t Tracing
	if len(tracing) > 0 {
		t = tracing[0]
	}
	tracer := platformtracing.Tracer(t.Provider)
	var invoked atomic.Bool
	return func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		flushCtx := ctx
		ctx = platformtracing.Propagator.Extract(ctx, eventHeaders(e.Headers))
		ctx, span := tracer.Start(ctx, invocationName(), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(invocationAttrs(ctx, !invoked.Swap(true))...))
		if deadline, ok := ctx.Deadline(); ok {
			keep := min(reserve, time.Until(deadline)/4)
			var cancel context.CancelFunc
			// The flush may take half of the time kept back, so that a
			// collector that does not answer costs spans, never the answer.
			flushCtx, cancel = context.WithDeadline(flushCtx, deadline.Add(-keep/2))
			defer cancel()
			ctx, cancel = context.WithDeadline(ctx, deadline.Add(-keep))
			defer cancel()
		}
		if t.Flush != nil {
			defer t.Flush(flushCtx)
		}
		defer span.End()

		req, err := Request(ctx, e)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
			return events.APIGatewayV2HTTPResponse{
				StatusCode: http.StatusBadRequest,
				Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8"},
				Body:       err.Error(),
			}, nil
		}
		// The handler reads its parent from the headers: make it this span.
		platformtracing.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
		w := newRecorder()
		h.ServeHTTP(w, req)
		res := w.response()
		span.SetAttributes(semconv.HTTPResponseStatusCode(res.StatusCode))
		if res.StatusCode >= 500 {
			span.SetStatus(codes.Error, http.StatusText(res.StatusCode))
		}
		return res, nil
	}
}

// invocationName is the span name of an invocation: the function's name,
// as the OpenTelemetry conventions for FaaS have it.
func invocationName() string {
	if lambdacontext.FunctionName != "" {
		return lambdacontext.FunctionName
	}
	return "lambda invocation"
}

func invocationAttrs(ctx context.Context, coldStart bool) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.FaaSTriggerHTTP, semconv.CloudProviderAWS, semconv.FaaSColdstart(coldStart)}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		attrs = append(attrs, semconv.FaaSInvocationID(lc.AwsRequestID), semconv.CloudResourceID(lc.InvokedFunctionArn))
	}
	return attrs
}

// eventHeaders reads an event's headers, whose names API Gateway sends in
// lower case, for the propagator.
type eventHeaders map[string]string

func (h eventHeaders) Get(key string) string {
	if v, ok := h[key]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

func (h eventHeaders) Set(string, string) {}

func (h eventHeaders) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// Request turns an event into the request it stands for.
func Request(ctx context.Context, e events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	path := e.RawPath
	if path == "" {
		path = e.RequestContext.HTTP.Path
	}
	if path == "" {
		path = "/"
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, badEvent("the path is not valid: " + err.Error())
	}
	u.RawQuery = e.RawQueryString

	body := []byte(e.Body)
	if e.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(e.Body); err != nil {
			return nil, badEvent("the body is not valid base64")
		}
	}
	method := e.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, badEvent(err.Error())
	}
	// API Gateway joins repeated headers with commas, which is what a
	// single header line with several values means in HTTP too.
	for k, v := range e.Headers {
		req.Header.Set(k, v)
	}
	if len(e.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(e.Cookies, "; "))
	}
	req.Host = req.Header.Get("Host")
	if req.Host == "" {
		req.Host = e.RequestContext.DomainName
	}
	req.URL.Host = req.Host
	req.RequestURI = u.RequestURI()
	req.RemoteAddr = e.RequestContext.HTTP.SourceIP
	if proto := e.RequestContext.HTTP.Protocol; proto != "" {
		if major, minor, ok := http.ParseHTTPVersion(proto); ok {
			req.Proto, req.ProtoMajor, req.ProtoMinor = proto, major, minor
		}
	}
	req.ContentLength = int64(len(body))
	if len(body) == 0 {
		req.Body = http.NoBody
	}
	return req, nil
}

type badEvent string

func (b badEvent) Error() string { return "bad event: " + string(b) }

// recorder keeps what a handler writes.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// response is the event answer for what was written. Text bodies go as
// they are; any other body is base64, as API Gateway expects.
func (r *recorder) response() events.APIGatewayV2HTTPResponse {
	res := events.APIGatewayV2HTTPResponse{StatusCode: r.status, Headers: map[string]string{}}
	if res.StatusCode == 0 {
		res.StatusCode = http.StatusOK
	}
	if r.header.Get("Content-Type") == "" && r.body.Len() > 0 {
		r.header.Set("Content-Type", http.DetectContentType(r.body.Bytes()))
	}
	for k, vs := range r.header {
		if k == "Set-Cookie" {
			res.Cookies = append(res.Cookies, vs...)
			continue
		}
		res.Headers[k] = strings.Join(vs, ",")
	}
	if isText(r.header.Get("Content-Type")) {
		res.Body = r.body.String()
	} else {
		res.Body = base64.StdEncoding.EncodeToString(r.body.Bytes())
		res.IsBase64Encoded = true
	}
	return res
}

func isText(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"),
		mt == "application/json", mt == "application/xml", mt == "application/yaml",
		mt == "application/javascript", mt == "application/x-www-form-urlencoded":
		return true
	}
	return false
}
