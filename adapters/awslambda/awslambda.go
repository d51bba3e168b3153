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
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// DefaultReserve is the part of an invocation's remaining time kept back
// from the handler, so that a handler whose calls ran out of time can still
// answer before the Lambda runtime cuts the invocation off.
const DefaultReserve = 500 * time.Millisecond

// Function is what lambda.Start runs for an HTTP API.
type Function func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Handler returns a Function that serves each event with h. The request's
// context ends reserve before the invocation's deadline (at most a quarter
// of the time left), which bounds every call h makes.
func Handler(h http.Handler, reserve time.Duration) Function {
	return func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if deadline, ok := ctx.Deadline(); ok {
			keep := min(reserve, time.Until(deadline)/4)
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline.Add(-keep))
			defer cancel()
		}
		req, err := Request(ctx, e)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{
				StatusCode: http.StatusBadRequest,
				Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8"},
				Body:       err.Error(),
			}, nil
		}
		w := newRecorder()
		h.ServeHTTP(w, req)
		return w.response(), nil
	}
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
