package awslambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/b2borders/platform/adapters/awslambda"
)

// seen is what the handler under test was given.
type seen struct {
	Method, Path, Query, Host, Remote, Cookie, Auth, ContentType string
	Body                                                         string
	ContentLength                                                int64
	Deadline                                                     time.Time
	HasDeadline                                                  bool
}

func recordingHandler(got *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = seen{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.Query().Get("q"), Host: r.Host, Remote: r.RemoteAddr,
			Cookie: r.Header.Get("Cookie"), Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"),
			Body: string(b), ContentLength: r.ContentLength,
		}
		got.Deadline, got.HasDeadline = r.Context().Deadline()
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Add("Vary", "Accept")
		w.Header().Add("Vary", "Origin")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"ok":true}`)
	})
}

func event(body string, b64 bool) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /orchestrate-order",
		RawPath: "/orchestrate-order", RawQueryString: "q=a%20b",
		Cookies: []string{"s=1", "t=2"},
		Headers: map[string]string{
			"authorization": "Bearer tok", "content-type": "application/json", "host": "api.example.com",
		},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "api.example.com",
			HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/orchestrate-order", SourceIP: "203.0.113.9", Protocol: "HTTP/1.1"},
		},
		Body: body, IsBase64Encoded: b64,
	}
}

func TestEventBecomesTheRequestItStandsFor(t *testing.T) {
	var got seen
	fn := awslambda.Handler(recordingHandler(&got), awslambda.DefaultReserve)
	res, err := fn(context.Background(), event(`{"x":1}`, false))
	if err != nil {
		t.Fatal(err)
	}
	want := seen{
		Method: "POST", Path: "/orchestrate-order", Query: "a b", Host: "api.example.com", Remote: "203.0.113.9",
		Cookie: "s=1; t=2", Auth: "Bearer tok", ContentType: "application/json", Body: `{"x":1}`, ContentLength: 7,
	}
	if got != want {
		t.Errorf("handler saw %+v\nwant %+v", got, want)
	}
	if res.StatusCode != http.StatusCreated || res.Body != `{"ok":true}` || res.IsBase64Encoded {
		t.Errorf("response %d %q base64=%v", res.StatusCode, res.Body, res.IsBase64Encoded)
	}
	if res.Headers["Content-Type"] != "application/json" || res.Headers["Vary"] != "Accept,Origin" {
		t.Errorf("headers %v", res.Headers)
	}
	if _, ok := res.Headers["Set-Cookie"]; ok || len(res.Cookies) != 2 || res.Cookies[0] != "a=1" || res.Cookies[1] != "b=2" {
		t.Errorf("cookies %v, headers %v: Set-Cookie must go to cookies", res.Cookies, res.Headers)
	}
	// The response must be what API Gateway reads.
	b, _ := json.Marshal(res)
	var raw map[string]any
	json.Unmarshal(b, &raw)
	if raw["statusCode"] != float64(201) || raw["body"] != `{"ok":true}` {
		t.Errorf("wire form %s", b)
	}
}

func TestBase64BodiesAreDecoded(t *testing.T) {
	var got seen
	fn := awslambda.Handler(recordingHandler(&got), awslambda.DefaultReserve)
	if _, err := fn(context.Background(), event(base64.StdEncoding.EncodeToString([]byte(`{"y":2}`)), true)); err != nil {
		t.Fatal(err)
	}
	if got.Body != `{"y":2}` || got.ContentLength != 7 {
		t.Errorf("body %q (%d), want the decoded body", got.Body, got.ContentLength)
	}

	res, err := fn(context.Background(), event("%%%", true))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("undecodable body: status %d, want 400", res.StatusCode)
	}
}

func TestBinaryResponsesAreBase64(t *testing.T) {
	fn := awslambda.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte{0, 1, 2, 255})
	}), 0)
	res, err := fn(context.Background(), event("", false))
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsBase64Encoded || res.Body != base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 255}) || res.StatusCode != 200 {
		t.Errorf("response %+v, want the bytes in base64 with status 200", res)
	}
}

func TestHandlerDeadlineKeepsAReserve(t *testing.T) {
	var got seen
	fn := awslambda.Handler(recordingHandler(&got), 500*time.Millisecond)

	deadline := time.Now().Add(10 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if _, err := fn(ctx, event("", false)); err != nil {
		t.Fatal(err)
	}
	if !got.HasDeadline || !got.Deadline.Equal(deadline.Add(-500*time.Millisecond)) {
		t.Errorf("handler deadline %v (set %v), want %v", got.Deadline, got.HasDeadline, deadline.Add(-500*time.Millisecond))
	}

	// Little time left: a quarter of it is kept, not more than there is.
	deadline = time.Now().Add(400 * time.Millisecond)
	ctx2, cancel2 := context.WithDeadline(context.Background(), deadline)
	defer cancel2()
	if _, err := fn(ctx2, event("", false)); err != nil {
		t.Fatal(err)
	}
	if left := time.Until(got.Deadline); !got.HasDeadline || !got.Deadline.Before(deadline.Add(-90*time.Millisecond)) || left <= 0 {
		t.Errorf("handler deadline %v is not inside the 400ms left with a quarter kept back", got.Deadline)
	}

	if _, err := fn(context.Background(), event("", false)); err != nil {
		t.Fatal(err)
	}
	if got.HasDeadline {
		t.Error("a deadline was made up for an invocation without one")
	}
}
