package apptest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

var registerDecoders sync.Once

// ValidatingTransport returns a transport that checks every exchange against
// an OpenAPI document: the request must match a documented operation, and
// the response's status, headers and body must be among those documented
// for it. A mismatch fails t.
func ValidatingTransport(t testing.TB, spec []byte) http.RoundTripper {
	t.Helper()
	registerDecoders.Do(func() {
		raw := func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(body)
			return string(b), err
		}
		openapi3filter.RegisterBodyDecoder("application/problem+json", openapi3filter.JSONBodyDecoder)
		openapi3filter.RegisterBodyDecoder("application/yaml", raw)
	})
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid OpenAPI document: %v", err)
	}
	// The document names the default local servers; tests listen elsewhere.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &validating{t: t, router: router}
}

type validating struct {
	t      testing.TB
	router routers.Router
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return res, err
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(resBody))

	route, params, err := v.router.FindRoute(req)
	if err != nil {
		v.t.Errorf("OpenAPI: %s %s is not a documented operation: %v", req.Method, req.URL.Path, err)
		return res, nil
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    req.Clone(req.Context()),
		PathParams: params,
		Route:      route,
		Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	in.Request.Body = io.NopCloser(bytes.NewReader(reqBody))
	err = openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(resBody)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	})
	if err != nil {
		v.t.Errorf("OpenAPI: response to %s %s (%d) does not match the document: %v\nbody: %s",
			req.Method, req.URL.Path, res.StatusCode, err, resBody)
	}
	return res, nil
}
