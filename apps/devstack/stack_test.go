package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/b2borders/platform/adapters/httpapi"
)

// startTestStack runs the dev stack on the embedded engine, on free ports.
func startTestStack(t *testing.T) (*stack, config) {
	t.Helper()
	cfg := config{
		auth:       httpapi.AuthConfig{JWTSecret: devJWTSecret, ServiceToken: devServiceToken},
		sampleData: true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := s.stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s, cfg
}

type client struct {
	t     *testing.T
	token string
}

func (c client) do(method, url string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	if out != nil && res.StatusCode < 300 {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			c.t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return res.StatusCode
}

func TestStackServesSampleData(t *testing.T) {
	s, cfg := startTestStack(t)
	token, _ := httpapi.MintJWT(cfg.auth.JWTSecret, "test", time.Hour)
	c := client{t: t, token: token}

	var customers, products struct {
		Data []map[string]any `json:"data"`
	}
	if st := c.do("GET", s.customersURL+"/customers?limit=100", nil, &customers); st != 200 || len(customers.Data) != 3 {
		t.Fatalf("customers: %d, %d rows", st, len(customers.Data))
	}
	if st := c.do("GET", s.ordersURL+"/products?limit=100", nil, &products); st != 200 || len(products.Data) != 6 {
		t.Fatalf("products: %d, %d rows", st, len(products.Data))
	}
	if err := loadSampleData(context.Background(), s.server); err != nil {
		t.Fatalf("loading the sample data twice: %v", err)
	}
	c.do("GET", s.customersURL+"/customers?limit=100", nil, &customers)
	if len(customers.Data) != 3 {
		t.Fatalf("a second load changed the data: %d customers", len(customers.Data))
	}
	// Each sample product's ledger opens with its stock, once, loaded twice.
	for _, p := range products.Data {
		var moves struct {
			Data []struct {
				Delta float64 `json:"delta"`
				Kind  string  `json:"kind"`
			} `json:"data"`
		}
		if st := c.do("GET", fmt.Sprintf("%s/products/%s/movements", s.ordersURL, p["id"]), nil, &moves); st != 200 ||
			len(moves.Data) != 1 || moves.Data[0].Kind != "created" || moves.Data[0].Delta != p["stock"] {
			t.Fatalf("product %v with stock %v: movements %d, %+v", p["id"], p["stock"], st, moves.Data)
		}
	}
}

// The engine does not isolate transactions; the stack's one connection per
// service must still keep stock exact under concurrent buyers.
func TestStackKeepsStockExactUnderConcurrentBuyers(t *testing.T) {
	s, cfg := startTestStack(t)
	token, _ := httpapi.MintJWT(cfg.auth.JWTSecret, "test", time.Hour)
	c := client{t: t, token: token}

	var cust, prod struct {
		ID string `json:"id"`
	}
	if st := c.do("POST", s.customersURL+"/customers", map[string]any{"name": "Race", "email": "race@example.com"}, &cust); st != 201 {
		t.Fatalf("create customer: %d", st)
	}
	if st := c.do("POST", s.ordersURL+"/products", map[string]any{"sku": "RACE-1", "name": "Scarce", "price_cents": 100, "stock": 10}, &prod); st != 201 {
		t.Fatalf("create product: %d", st)
	}
	const buyers = 50
	statuses := make([]int, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Go(func() {
			statuses[i] = c.do("POST", s.ordersURL+"/orders", map[string]any{
				"customer_id": cust.ID, "items": []map[string]any{{"product_id": prod.ID, "qty": 1}},
			}, nil)
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, st := range statuses {
		count[st]++
	}
	if count[201] != 10 || count[409] != buyers-10 {
		t.Fatalf("statuses %v, want 10 × 201 and %d × 409", count, buyers-10)
	}
	var p struct {
		Stock int64 `json:"stock"`
	}
	c.do("GET", s.ordersURL+"/products/"+prod.ID, nil, &p)
	var orders struct {
		Data []map[string]any `json:"data"`
	}
	c.do("GET", fmt.Sprintf("%s/orders?customer_id=%s&limit=100", s.ordersURL, cust.ID), nil, &orders)
	if p.Stock != 0 || len(orders.Data) != 10 {
		t.Fatalf("stock %d and %d orders, want 0 and 10", p.Stock, len(orders.Data))
	}
}

func TestStackOrchestratesAnOrderOnce(t *testing.T) {
	s, cfg := startTestStack(t)
	c := client{t: t, token: cfg.auth.ServiceToken}
	const acme, laptop = "0192f3a0-7c1a-7d2e-8b3c-4d5e6f700001", "0192f3a0-7c1a-7d2e-8b3c-4d5e6f710001"
	body := map[string]any{
		"customer_id": acme, "items": []map[string]any{{"product_id": laptop, "qty": 2}},
		"idempotency_key": "devstack-checkout-1",
	}
	var first, again struct {
		Success bool `json:"success"`
		Data    struct {
			Order struct {
				ID         string `json:"id"`
				Status     string `json:"status"`
				TotalCents int64  `json:"total_cents"`
			} `json:"order"`
		} `json:"data"`
	}
	if st := c.do("POST", s.orchestratorURL+"/orchestrator/create-and-confirm-order", body, &first); st != 201 {
		t.Fatalf("orchestrate: %d", st)
	}
	if !first.Success || first.Data.Order.Status != "CONFIRMED" || first.Data.Order.TotalCents != 2*129900 {
		t.Fatalf("orchestrated %+v", first)
	}
	if st := c.do("POST", s.orchestratorURL+"/orchestrate-order", body, &again); st != 201 || again.Data.Order.ID != first.Data.Order.ID {
		t.Fatalf("retry: %d, order %s, want %s", st, again.Data.Order.ID, first.Data.Order.ID)
	}
	var p struct {
		Stock int64 `json:"stock"`
	}
	c.do("GET", s.ordersURL+"/products/"+laptop, nil, &p)
	if p.Stock != 50-2 {
		t.Fatalf("stock %d after one order of 2 from 50, retried", p.Stock)
	}
}
