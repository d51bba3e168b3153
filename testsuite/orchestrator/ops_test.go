package orchestrator_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	wire "github.com/b2borders/platform/apps/wire/orchestrator"
	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/orchestrator"
)

func TestMetricsCountRequestsByRouteTemplate(t *testing.T) {
	s := orchestrator.NewStack(t)
	c := s.NewCustomer(t, "ACME", "")
	p := s.NewProduct(t, 100, 10)
	o := boot(t, s.Config(), apptest.OperatorToken(t))

	ok(t, o.Do(t, http.MethodPost, route, request(c.ID, "metrics-"+uuid.NewString(), line(p, 1))))
	ok(t, o.Do(t, http.MethodPost, route, request(c.ID, "metrics-"+uuid.NewString(), line(p, 1))))
	ok(t, o.Do(t, http.MethodPost, alias, request(c.ID, "metrics-"+uuid.NewString(), line(p, 1))))
	failed(t, o.Do(t, http.MethodPost, route, request(uuid.NewString(), "metrics-unknown", line(p, 1))),
		http.StatusUnprocessableEntity, "customer_not_found")
	plain := &apptest.Client{Base: o.Base, Token: apptest.ServiceToken}
	failed(t, plain.Do(t, http.MethodGet, "/no/such/"+uuid.NewString(), nil), http.StatusNotFound, "not_found")
	o.Do(t, http.MethodGet, "/health", nil).Want(t, http.StatusOK)

	r := o.Do(t, http.MethodGet, "/metrics", nil).Want(t, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the Prometheus text format", ct)
	}
	metrics := string(r.Body)
	for _, want := range []string{
		`http_requests_total{method="POST",route="/orchestrator/create-and-confirm-order",status="201"} 2`,
		`http_requests_total{method="POST",route="/orchestrate-order",status="201"} 1`,
		`http_requests_total{method="POST",route="/orchestrator/create-and-confirm-order",status="422"} 1`,
		`http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`http_requests_total{method="GET",route="/health",status="200"} 1`,
		`http_request_duration_seconds_bucket{method="POST",route="/orchestrator/create-and-confirm-order",le=`,
		`go_goroutines `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, `route="/no/such`) {
		t.Error("metrics are labelled by raw path")
	}
}

func TestReadyFollowsTheServices(t *testing.T) {
	s := orchestrator.NewStack(t)

	t.Run("both up", func(t *testing.T) {
		o := boot(t, s.Config(), "")
		r := o.Do(t, http.MethodGet, "/ready", nil, "X-Correlation-ID", "probe-1").Want(t, http.StatusOK)
		var body struct {
			Status string `json:"status"`
		}
		r.JSON(t, &body)
		if body.Status != "ready" {
			t.Errorf("body %s, want status ready", r.Body)
		}
		if r.Header.Get("X-Correlation-ID") != "probe-1" || r.Header.Get("X-Request-ID") != "probe-1" {
			t.Errorf("X-Correlation-ID %q, X-Request-ID %q, want the id sent", r.Header.Get("X-Correlation-ID"), r.Header.Get("X-Request-ID"))
		}
		if n := s.CustomersProxy.Count(http.MethodGet, "/health"); n < 1 {
			t.Error("customers-api was not asked")
		}
		if n := s.OrdersProxy.Count(http.MethodGet, "/health"); n < 1 {
			t.Error("orders-api was not asked")
		}
	})

	for _, tc := range []struct {
		name    string
		config  func() wire.Config
		message string
	}{
		{"orders-api down", func() wire.Config {
			cfg := s.Config()
			cfg.OrdersURL = orchestrator.ClosedURL(t)
			return cfg
		}, "orders-api does not answer"},
		{"customers-api down", func() wire.Config {
			cfg := s.Config()
			cfg.CustomersURL = orchestrator.ClosedURL(t)
			return cfg
		}, "customers-api does not answer"},
		{"both down", func() wire.Config {
			cfg := s.Config()
			cfg.CustomersURL, cfg.OrdersURL = orchestrator.ClosedURL(t), orchestrator.ClosedURL(t)
			return cfg
		}, "customers-api and orders-api do not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := boot(t, tc.config(), "")
			start := time.Now()
			r := o.Do(t, http.MethodGet, "/ready", nil, "X-Correlation-ID", "probe-down")
			e := failed(t, r, http.StatusServiceUnavailable, "dependency_unavailable")
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("answered after %s, want a short probe", took)
			}
			if r.Header.Get("Retry-After") == "" {
				t.Error("no Retry-After on a 503")
			}
			if r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q, want the envelope's application/json", r.Header.Get("Content-Type"))
			}
			if e.CorrelationID != "probe-down" {
				t.Errorf("correlationId %q, want the header's", e.CorrelationID)
			}
			if e.Error.Message != tc.message || strings.Contains(string(r.Body), "127.0.0.1") {
				t.Errorf("message %q, want %q and no address", e.Error.Message, tc.message)
			}
			// Liveness of the orchestrator itself is not its services'.
			o.Do(t, http.MethodGet, "/health", nil).Want(t, http.StatusOK)
		})
	}

	t.Run("a service answering an error", func(t *testing.T) {
		cfg := s.Config()
		s.CustomersProxy.Fail("/health", orchestrator.Unavailable, 1)
		t.Cleanup(func() { s.CustomersProxy.Fail("/health", 0, 0) })
		o := boot(t, cfg, "")
		e := failed(t, o.Do(t, http.MethodGet, "/ready", nil), http.StatusServiceUnavailable, "dependency_unavailable")
		if e.Error.Message != "customers-api does not answer" {
			t.Errorf("message %q", e.Error.Message)
		}
		o.Do(t, http.MethodGet, "/ready", nil).Want(t, http.StatusOK)
	})
}
