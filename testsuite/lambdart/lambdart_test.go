// Package lambdart runs the orchestrator's real Lambda build under the AWS
// Lambda Runtime Interface Emulator: the emulator is built from the Go
// module proxy, the orchestrator is built as `bootstrap` with
// -tags lambda.norpc, and API Gateway HTTP API v2 events are posted to the
// emulator's invoke endpoint, with customers-api and orders-api running in
// the test process.
package lambdart

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/orchestrator"
)

// The emulator release the test runs, as the Go module proxy serves it.
const (
	rieModule  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"
	rieMain    = rieModule + "/cmd/aws-lambda-rie"
	invokePath = "/2015-03-31/functions/function/invocations"
)

// goBuild runs the go command in dir.
func goBuild(dir string, env []string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// built holds the two binaries, built once for every test of the package.
var built struct {
	once           sync.Once
	rie, bootstrap string
	err            error
}

// binaries builds the emulator and the bootstrap, side by side, into a
// folder removed when the tests end.
func binaries(t *testing.T) (rie, bootstrap string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Fatalf("the Lambda runtime interface emulator runs on Linux only, not %s", runtime.GOOS)
	}
	built.once.Do(func() {
		bin, err := os.MkdirTemp("", "lambdart-")
		if err != nil {
			built.err = err
			return
		}
		wd, err := os.Getwd()
		if err != nil {
			built.err = err
			return
		}
		built.rie = filepath.Join(bin, "aws-lambda-rie")
		built.bootstrap = filepath.Join(bin, "task", "bootstrap")
		var rieErr, bootErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			// Outside any module and workspace, so the emulator is built
			// with its own go.mod's versions, fetched through the proxy.
			rieErr = goBuild(bin, []string{"GOWORK=off", "GOFLAGS=-mod=mod", "GOBIN=" + bin, "CGO_ENABLED=0"},
				"install", rieMain+"@"+rieVersion)
			if rieErr != nil {
				rieErr = fmt.Errorf("build the runtime interface emulator %s@%s from the Go module proxy: %w", rieMain, rieVersion, rieErr)
			}
		})
		wg.Go(func() {
			// As `make lambda` builds it, for this machine's architecture.
			bootErr = goBuild(wd, []string{"GOOS=linux", "GOARCH=" + runtime.GOARCH, "CGO_ENABLED=0"},
				"build", "-trimpath", "-tags", "lambda.norpc", "-o", built.bootstrap, "github.com/b2borders/platform/apps/orchestrator")
		})
		wg.Wait()
		built.err = errors.Join(rieErr, bootErr)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.rie, built.bootstrap
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.rie != "" {
		os.RemoveAll(filepath.Dir(built.rie))
	}
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// output is a file that a process and the processes it starts write to
// directly, with no copying in between: what was written before the
// emulator answered is there to read once it has answered.
type output struct{ path string }

func (o output) String() string {
	b, _ := os.ReadFile(o.path)
	return string(b)
}

// emulator runs the emulator with bootstrap as the function and env as the
// function's environment, and returns its invoke URL and its output (the
// function's too), which is also shown when t fails.
func emulator(t *testing.T, rie, bootstrap string, env map[string]string) (string, output) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(rie,
		"--log-level", "warn",
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", freeAddr(t),
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LOG_LEVEL=warn"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := output{path: filepath.Join(t.TempDir(), "emulator.log")}
	f, err := os.Create(out.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so that the function process it starts goes
	// when it goes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the emulator: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("emulator output:\n%s", out.String())
		}
	})

	// The emulator is ready once its invoke endpoint accepts connections.
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("the emulator exited before serving:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator did not listen on %s within 15s:\n%s", addr, out.String())
		}
	}
	return "http://" + addr + invokePath, out
}

// apiEvent is the event API Gateway sends for a JSON POST to path.
func apiEvent(path, token string, body any) events.APIGatewayV2HTTPRequest {
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	h := map[string]string{"content-type": "application/json", "host": "orders.example.com", "x-correlation-id": "lambda-corr"}
	if token != "" {
		h["authorization"] = "Bearer " + token
	}
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST " + path, RawPath: path, Headers: h,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: "POST " + path, Stage: "$default", RequestID: uuid.NewString(), DomainName: "orders.example.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodPost, Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.7"},
		},
		Body: string(b),
	}
}

// invoke posts an event to the emulator and decodes the function's answer.
func invoke(t *testing.T, url string, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, envelope) {
	t.Helper()
	b, _ := json.Marshal(e)
	c := &http.Client{Timeout: 30 * time.Second}
	res, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("invoke: status %d: %s", res.StatusCode, raw)
	}
	var out events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(raw, &out); err != nil || out.StatusCode == 0 {
		t.Fatalf("the function did not answer an API Gateway response: %v\n%s", err, raw)
	}
	var env envelope
	if err := json.Unmarshal([]byte(out.Body), &env); err != nil {
		t.Fatalf("body %q is not the orchestrator's envelope: %v", out.Body, err)
	}
	return out, env
}

type envelope struct {
	Success       bool   `json:"success"`
	CorrelationID string `json:"correlationId"`
	Data          *struct {
		Customer struct {
			ID string `json:"id"`
		} `json:"customer"`
		Order struct {
			ID         string `json:"id"`
			Status     string `json:"status"`
			TotalCents int64  `json:"total_cents"`
		} `json:"order"`
	} `json:"data"`
	Error *struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
	} `json:"error"`
}

func TestOrchestratorUnderTheLambdaRuntimeEmulator(t *testing.T) {
	rie, bootstrap := binaries(t)
	s := orchestrator.NewStack(t)
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 129900, 10)
	env := map[string]string{
		"CUSTOMERS_API_URL":           s.CustomersProxy.URL,
		"ORDERS_API_URL":              s.OrdersProxy.URL,
		"SERVICE_TOKEN":               apptest.ServiceToken,
		"JWT_SECRET":                  apptest.JWTSecret,
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "20",
	}
	url, _ := emulator(t, rie, bootstrap, env)
	body := map[string]any{
		"customer_id": c.ID, "items": []any{map[string]any{"product_id": p, "qty": 3}}, "idempotency_key": "lambda-" + uuid.NewString(),
	}

	res, e := invoke(t, url, apiEvent("/orchestrator/create-and-confirm-order", apptest.OperatorToken(t), body))
	if res.StatusCode != http.StatusCreated || !e.Success || e.Data == nil {
		t.Fatalf("statusCode %d, body %s; want 201 with success", res.StatusCode, res.Body)
	}
	if e.Data.Order.Status != "CONFIRMED" || e.Data.Order.TotalCents != 3*129900 || e.Data.Customer.ID != c.ID {
		t.Errorf("data %+v, want the customer's CONFIRMED order of %d", *e.Data, 3*129900)
	}
	if e.CorrelationID != "lambda-corr" || res.Headers["X-Correlation-Id"] != "lambda-corr" || res.Headers["Content-Type"] != "application/json" {
		t.Errorf("correlationId %q, headers %v: want lambda-corr echoed and a JSON body", e.CorrelationID, res.Headers)
	}
	if st := s.OrderStatus(t, e.Data.Order.ID); st != "CONFIRMED" {
		t.Errorf("orders-api shows the order %s", st)
	}

	// A warm invocation on the alias with the same key: the same order,
	// the stock taken once.
	res, again := invoke(t, url, apiEvent("/orchestrate-order", apptest.ServiceToken, body))
	if res.StatusCode != http.StatusCreated || again.Data == nil || again.Data.Order.ID != e.Data.Order.ID {
		t.Errorf("retry: statusCode %d, body %s; want 201 with order %s", res.StatusCode, res.Body, e.Data.Order.ID)
	}
	if st := s.Stock(t, p); st != 7 {
		t.Errorf("stock %d, want 7", st)
	}

	res, denied := invoke(t, url, apiEvent("/orchestrate-order", "", body))
	if res.StatusCode != http.StatusUnauthorized || denied.Success || denied.Error == nil || denied.Error.Code != "unauthorized" {
		t.Errorf("without a token: statusCode %d, body %s; want 401 unauthorized", res.StatusCode, res.Body)
	}
}

func TestUpstreamCallsEndWithinTheLambdasTime(t *testing.T) {
	rie, bootstrap := binaries(t)
	s := orchestrator.NewStack(t)
	c := s.NewCustomer(t, "ACME", "")
	released := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-released:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(released) })

	url, _ := emulator(t, rie, bootstrap, map[string]string{
		"CUSTOMERS_API_URL":           s.CustomersProxy.URL,
		"ORDERS_API_URL":              hang.URL,
		"SERVICE_TOKEN":               apptest.ServiceToken,
		"JWT_SECRET":                  apptest.JWTSecret,
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "2",
	})
	start := time.Now()
	res, e := invoke(t, url, apiEvent("/orchestrate-order", apptest.ServiceToken, map[string]any{
		"customer_id": c.ID, "items": []any{map[string]any{"product_id": uuid.NewString(), "qty": 1}}, "idempotency_key": "slow",
	}))
	took := time.Since(start)
	if res.StatusCode != http.StatusGatewayTimeout || e.Error == nil || e.Error.Code != "dependency_timeout" {
		t.Fatalf("statusCode %d, body %s; want the function's own 504 before the 2s limit", res.StatusCode, res.Body)
	}
	if took > 2*time.Second {
		t.Errorf("answered after %s, past the function's 2s", took)
	}
}

func TestBadConfigIsOneLineNamingTheVariable(t *testing.T) {
	rie, bootstrap := binaries(t)
	url, out := emulator(t, rie, bootstrap, map[string]string{
		"CUSTOMERS_API_URL": "http://127.0.0.1:1",
		"SERVICE_TOKEN":     apptest.ServiceToken,
		"JWT_SECRET":        apptest.JWTSecret,
	})
	b, _ := json.Marshal(apiEvent("/orchestrate-order", apptest.ServiceToken, map[string]any{}))
	res, err := (&http.Client{Timeout: 30 * time.Second}).Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(raw), `"statusCode"`) {
		t.Fatalf("the function answered %s without its ORDERS_API_URL", raw)
	}
	if !strings.Contains(out.String(), "config: ORDERS_API_URL is required\n") {
		t.Errorf("output lacks the line naming ORDERS_API_URL:\n%s", out)
	}
}

// The real bootstrap, sending to an OTLP/HTTP endpoint with a batch delay
// far longer than the test, exports each invocation's spans before the
// invocation returns: the invocation span, the child of the event's
// traceparent, with the handler's request and its calls under it.
func TestLambdaFlushesItsSpansBeforeItReturns(t *testing.T) {
	rie, bootstrap := binaries(t)
	rcv := apptest.NewOTLPReceiver(t)
	s := orchestrator.NewStack(t)
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 500, 10)
	url, _ := emulator(t, rie, bootstrap, map[string]string{
		"CUSTOMERS_API_URL":           s.CustomersProxy.URL,
		"ORDERS_API_URL":              s.OrdersProxy.URL,
		"SERVICE_TOKEN":               apptest.ServiceToken,
		"JWT_SECRET":                  apptest.JWTSecret,
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "20",
		"AWS_LAMBDA_FUNCTION_NAME":    "orchestrator-dev",
		"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "3600000",
	})
	e := apiEvent("/orchestrator/create-and-confirm-order", apptest.OperatorToken(t), map[string]any{
		"customer_id": c.ID, "items": []any{map[string]any{"product_id": p, "qty": 1}}, "idempotency_key": "traced-" + uuid.NewString(),
	})
	e.Headers["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if res, env := invoke(t, url, e); res.StatusCode != http.StatusCreated || !env.Success {
		t.Fatalf("statusCode %d, body %s; want 201", res.StatusCode, res.Body)
	}

	// No waiting: what the invocation flushed is there once it answered.
	byName := map[string]apptest.Span{}
	for _, sp := range rcv.Spans() {
		if sp.Service != "orchestrator" || sp.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("span %s of %s in trace %s: want the orchestrator's, in the event's trace", sp.Name, sp.Service, sp.SpanContext.TraceID())
		}
		byName[sp.Name] = sp
	}
	invocation, request := byName["orchestrator-dev"], byName["POST /orchestrator/create-and-confirm-order"]
	if invocation.Parent.SpanID().String() != "00f067aa0ba902b7" || invocation.Attr("faas.trigger") != "http" {
		t.Fatalf("invocation span %+v: want the child of the event's traceparent, triggered by http; got spans %v", invocation, byName)
	}
	if request.Parent.SpanID() != invocation.SpanContext.SpanID() {
		t.Errorf("the request's span has parent %s, want the invocation %s", request.Parent.SpanID(), invocation.SpanContext.SpanID())
	}
	for _, call := range []string{"GET /internal/customers/{id}", "POST /orders", "POST /orders/{id}/confirm"} {
		if byName[call].Parent.SpanID() != request.SpanContext.SpanID() {
			t.Errorf("call %s: parent %s, want the request %s", call, byName[call].Parent.SpanID(), request.SpanContext.SpanID())
		}
	}
}
