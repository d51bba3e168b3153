package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/b2borders/platform/core/customer"
	"github.com/b2borders/platform/core/orchestration"
)

// panickingCustomers is a customers service whose every lookup panics.
type panickingCustomers struct{}

func (panickingCustomers) Get(context.Context, uuid.UUID) (customer.Customer, error) {
	panic("secret internal detail")
}

const testServiceToken = "fedcba9876543210"

func newTestOrchestrator(customers orchestration.Customers, logs *bytes.Buffer) http.Handler {
	log := slog.New(slog.NewJSONHandler(logs, nil))
	ops := Ops{Ready: func(context.Context) error { return nil }, Registry: prometheus.NewRegistry(), OpenAPI: []byte("openapi: 3.0.3")}
	auth := NewAuth(AuthConfig{JWTSecret: "0123456789abcdef", ServiceToken: testServiceToken})
	return NewOrchestratorHandler(log, ops, auth, orchestration.NewService(customers, nil), OrchestratorConfig{})
}

func TestOrchestratorPanicIsAnInternalErrorInTheEnvelope(t *testing.T) {
	var logs bytes.Buffer
	h := newTestOrchestrator(panickingCustomers{}, &logs)
	body := `{"customer_id":"` + uuid.NewString() + `","items":[{"product_id":"` + uuid.NewString() + `","qty":1}],"idempotency_key":"k-1"}`
	req := httptest.NewRequest(http.MethodPost, OrchestratePath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testServiceToken)
	req.Header.Set("X-Correlation-ID", "corr-panic")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q, want 500 application/json", rec.Code, rec.Header().Get("Content-Type"))
	}
	var env struct {
		Success       *bool  `json:"success"`
		CorrelationID string `json:"correlationId"`
		Error         *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Status  int    `json:"status"`
			Details any    `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Success == nil || *env.Success || env.Error == nil {
		t.Fatalf("body %s, want the orchestrator's error envelope", rec.Body)
	}
	if env.Error.Code != "internal" || env.Error.Message != "internal error" || env.Error.Status != 500 || env.Error.Details != nil {
		t.Errorf("error %+v, want internal, internal error, 500, null details", *env.Error)
	}
	if env.CorrelationID != "corr-panic" || rec.Header().Get("X-Correlation-ID") != "corr-panic" || rec.Header().Get("X-Request-ID") != "corr-panic" {
		t.Errorf("correlationId %q, headers %v: want corr-panic in all three", env.CorrelationID, rec.Header())
	}
	if strings.Contains(rec.Body.String(), "secret internal detail") {
		t.Error("the panic's text reached the client")
	}
	if !strings.Contains(logs.String(), "secret internal detail") || !strings.Contains(logs.String(), `"request_id":"corr-panic"`) {
		t.Errorf("the panic was not logged with its request id: %s", logs.String())
	}
	if !strings.Contains(logs.String(), `"route":"`+OrchestratePath+`"`) || !strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("no access log line with the route and the 500: %s", logs.String())
	}
}

func TestOrchestratorAnswersUnknownPathsAndMethodsInTheEnvelope(t *testing.T) {
	h := newTestOrchestrator(panickingCustomers{}, &bytes.Buffer{})
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/nowhere", http.StatusNotFound, "not_found"},
		{http.MethodGet, OrchestrateAliasPath, http.StatusMethodNotAllowed, "method_not_allowed"},
	} {
		rec := serve(h, tc.method, tc.path)
		var env OrchestratorEnvelope
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error == nil {
			t.Fatalf("%s %s: body %s", tc.method, tc.path, rec.Body)
		}
		if rec.Code != tc.status || string(env.Error.Code) != tc.code || env.Error.Status != tc.status || env.CorrelationID == "" ||
			env.CorrelationID != rec.Header().Get("X-Correlation-ID") {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
}
