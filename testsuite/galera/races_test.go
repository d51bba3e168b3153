//go:build galera

package galera_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/galera"
)

// TestLastUnitsAcrossNodes races 50 buyers of a product with stock 10
// through three replicas on three nodes: exactly 10 orders, stock 0 on
// every node.
func TestLastUnitsAcrossNodes(t *testing.T) {
	s := newStack(t, 0, 1, 2, 3)
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 10)
	answers := concurrently(t, 50, func(i int) (*apptest.Response, error) {
		return send(s.replicas[i%3], "POST", "/orders", body(customer, line(p, 1)))
	})
	var placed []order
	short := 0
	for _, r := range answers {
		switch {
		case r.Status == 201:
			var o order
			r.JSON(t, &o)
			placed = append(placed, o)
		case r.Status == 409 && code(r) == "insufficient_stock":
			short++
		default:
			t.Fatalf("answer %d: %s", r.Status, r.Body)
		}
	}
	if len(placed) != 10 || short != 40 {
		t.Fatalf("%d placed, %d short; want 10 and 40", len(placed), short)
	}
	for n := 1; n <= galera.Nodes; n++ {
		if st := s.stockOn(t, n, p); st != 0 {
			t.Errorf("node %d: stock %d, want 0", n, st)
		}
	}
	s.checkWhole(t, map[string]int64{p: 10}, placed)
}

// TestCrossingOrdersAcrossNodes races multi-line orders listing the same
// products in opposite orders, and cancels, through replicas on two nodes:
// every one succeeds (conflicts are retried, never a 500) and no unit of
// stock is lost or made on any node.
func TestCrossingOrdersAcrossNodes(t *testing.T) {
	s := newStack(t, 0, 1, 2)
	customer := s.newCustomer(t)
	const start = 500
	ps := []string{s.newProduct(t, 100, start), s.newProduct(t, 200, start), s.newProduct(t, 300, start)}
	var toCancel []string
	for i := range 10 {
		var o order
		s.replicas[i%2].Do(t, "POST", "/orders", body(customer, line(ps[0], 2), line(ps[2], 1))).Want(t, 201).JSON(t, &o)
		toCancel = append(toCancel, o.ID)
	}
	retries := s.retries(t)
	answers := concurrently(t, 50, func(i int) (*apptest.Response, error) {
		c := s.replicas[i%2]
		switch {
		case i < 10:
			return send(c, "POST", "/orders/"+toCancel[i]+"/cancel", nil)
		case i%2 == 0:
			return send(c, "POST", "/orders", body(customer, line(ps[0], 1), line(ps[1], 2), line(ps[2], 3)))
		default:
			return send(c, "POST", "/orders", body(customer, line(ps[2], 2), line(ps[1], 1), line(ps[0], 3)))
		}
	})
	var placed []order
	for i, r := range answers {
		if want := map[bool]int{true: 200, false: 201}[i < 10]; r.Status != want {
			t.Fatalf("request %d answered %d: %s", i, r.Status, r.Body)
		}
		if i >= 10 {
			var o order
			r.JSON(t, &o)
			placed = append(placed, o)
		}
	}
	t.Logf("%d transactions run again", s.retries(t)-retries)
	s.checkWhole(t, map[string]int64{ps[0]: start, ps[1]: start, ps[2]: start}, placed)
}

// TestOneKeyOnTwoNodes sends one placement with one Idempotency-Key to
// replicas on two nodes at once, several times: one order each time, and
// both answers name it.
func TestOneKeyOnTwoNodes(t *testing.T) {
	s := newStack(t, 0, 1, 2)
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 1000)
	var placed []order
	for round := range 10 {
		key := fmt.Sprintf("twice-%d", round)
		answers := concurrently(t, 2, func(i int) (*apptest.Response, error) {
			return send(s.replicas[i], "POST", "/orders", body(customer, line(p, 1)), "Idempotency-Key", key)
		})
		var ids []string
		for _, r := range answers {
			if r.Status != 201 {
				t.Fatalf("round %d: answered %d: %s", round, r.Status, r.Body)
			}
			var o order
			r.JSON(t, &o)
			ids = append(ids, o.ID)
		}
		if ids[0] != ids[1] {
			t.Fatalf("round %d: one key placed two orders, %s and %s", round, ids[0], ids[1])
		}
		var o order
		answers[0].JSON(t, &o)
		placed = append(placed, o)
	}
	for n := 1; n <= galera.Nodes; n++ {
		if st := s.stockOn(t, n, p); st != 990 {
			t.Errorf("node %d: stock %d, want 990", n, st)
		}
	}
	s.checkWhole(t, map[string]int64{p: 1000}, placed)
}

// TestConfirmOneKeyAcrossNodes sends 20 confirms of one order with one key
// through replicas on two nodes: one transition, and every answer (and
// later replays on either node) byte for byte the same.
func TestConfirmOneKeyAcrossNodes(t *testing.T) {
	s := newStack(t, 0, 1, 2)
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 100)
	var o order
	s.replicas[0].Do(t, "POST", "/orders", body(customer, line(p, 2))).Want(t, 201).JSON(t, &o)
	path := "/orders/" + o.ID + "/confirm"
	answers := concurrently(t, 20, func(i int) (*apptest.Response, error) {
		return send(s.replicas[i%2], "POST", path, nil, "X-Idempotency-Key", "together")
	})
	var first string
	fresh, inProgress := 0, 0
	for _, r := range answers {
		switch {
		case r.Status == 409 && code(r) == "idempotency_key_in_progress":
			inProgress++
			continue
		case r.Status != 200:
			t.Fatalf("confirm answered %d: %s", r.Status, r.Body)
		}
		if first == "" {
			first = string(r.Body)
		}
		if string(r.Body) != first {
			t.Fatalf("confirms answered\n%s\nand\n%s", first, r.Body)
		}
		if r.Header.Get("Idempotent-Replayed") == "" {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d confirms made the transition (%d in progress), want 1", fresh, inProgress)
	}
	for _, c := range s.replicas {
		r := c.Do(t, "POST", path, nil, "X-Idempotency-Key", "together").Want(t, 200)
		if string(r.Body) != first || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("later replay %s %v", r.Body, r.Header)
		}
		var got order
		c.Do(t, "GET", "/orders/"+o.ID, nil).Want(t, 200).JSON(t, &got)
		if got.Status != "CONFIRMED" {
			t.Fatalf("order read through another node after its confirm: %s", got.Status)
		}
	}
	s.checkWhole(t, map[string]int64{p: 100}, []order{o})
}

// TestReadYourWriteAcrossNodes reads, through a replica on another node,
// each order right after it was placed: it is always there.
func TestReadYourWriteAcrossNodes(t *testing.T) {
	s := newStack(t, 0, 1, 2)
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 1000)
	for i := range 50 {
		var o order
		s.replicas[i%2].Do(t, "POST", "/orders", body(customer, line(p, 1))).Want(t, 201).JSON(t, &o)
		s.replicas[(i+1)%2].Do(t, "GET", "/orders/"+o.ID, nil).Want(t, 200)
		s.replicas[(i+1)%2].Do(t, "POST", "/orders/"+o.ID+"/confirm", nil, "X-Idempotency-Key", "c-"+o.ID).Want(t, 200)
	}
}

// TestHotRowsThroughTwoNodes runs a hot load, every order on the same two
// products, through replicas on two nodes: certification failures are
// retried, and an answer is a placement, a refusal for stock, or (retries
// exhausted) a 503 — never a 500.
func TestHotRowsThroughTwoNodes(t *testing.T) {
	s := newStack(t, 0, 1, 2)
	customer := s.newCustomer(t)
	const start = 100000
	a, b := s.newProduct(t, 100, start), s.newProduct(t, 250, start)
	cert0, bf0 := s.aborts()
	retries0 := s.retries(t)
	const workers, each = 16, 12
	answers := concurrently(t, workers, func(i int) (*apptest.Response, error) {
		var last *apptest.Response
		for range each {
			r, err := send(s.replicas[i%2], "POST", "/orders", body(customer, line(a, 1), line(b, 2)))
			if err != nil {
				return nil, err
			}
			if r.Status != 201 {
				return r, nil
			}
			last = r
		}
		return last, nil
	})
	unavailable := 0
	for _, r := range answers {
		switch {
		case r.Status == 201:
		case r.Status == 503:
			wantUnavailable(t, "hot placement", r)
			unavailable++
		default:
			t.Fatalf("hot placement answered %d: %s", r.Status, r.Body)
		}
	}
	cert, bf := s.aborts()
	t.Logf("hot rows through two nodes: %d workers × up to %d orders, %d ended on a 503; %d retries, %d certification failures, %d brute-force aborts",
		workers, each, unavailable, s.retries(t)-retries0, cert-cert0, bf-bf0)
	s.checkWhole(t, map[string]int64{a: start, b: start}, nil)
}

// TestAbortedMidTransaction provokes conflicting writes through another
// node while placements, confirms and cancels are in flight: placements
// through replicas on nodes 1 and 2 on the same products, confirms and
// cancels of existing orders, and direct UPDATEs of the same product and
// order rows through node 2. Whatever was aborted was aborted whole:
// every 201 is an order with all its items on every node, no order lacks
// items, no key lacks its order, and stock is conserved on every node.
func TestAbortedMidTransaction(t *testing.T) {
	s := newStack(t, 0, 1, 2)
	customer := s.newCustomer(t)
	const start = 100000
	ps := []string{s.newProduct(t, 100, start), s.newProduct(t, 200, start), s.newProduct(t, 300, start)}
	var existing []string
	for i := range 40 {
		var o order
		s.replicas[i%2].Do(t, "POST", "/orders", body(customer, line(ps[i%3], 1), line(ps[(i+1)%3], 2))).Want(t, 201).JSON(t, &o)
		existing = append(existing, o.ID)
	}
	cert0, bf0 := s.aborts()
	retries0 := s.retries(t)

	// Conflicting writers through node 2: every product row and the
	// existing orders' rows, over and over, while the requests run.
	stop := make(chan struct{})
	writes := make(chan int, 2)
	node2 := s.cluster.Open(t, 2, s.db)
	for w := range 2 {
		go func() {
			n := 0
			defer func() { writes <- n }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				var err error
				if (i+w)%2 == 0 {
					_, err = node2.ExecContext(ctx, "UPDATE products SET updated_at = NOW(6)")
				} else {
					_, err = node2.ExecContext(ctx, "UPDATE orders SET updated_at = NOW(6) WHERE status = 'CREATED' ORDER BY created_at LIMIT 20")
				}
				cancel()
				if err == nil {
					n++
				}
			}
		}()
	}

	const requests = 120
	answers := concurrently(t, requests, func(i int) (*apptest.Response, error) {
		c := s.replicas[i%2]
		switch {
		case i < 20:
			return send(c, "POST", "/orders/"+existing[i]+"/confirm", nil, "X-Idempotency-Key", fmt.Sprintf("confirm-%d", i))
		case i < 40:
			return send(c, "POST", "/orders/"+existing[i]+"/cancel", nil)
		default:
			return send(c, "POST", "/orders", body(customer, line(ps[i%3], 1), line(ps[(i+1)%3], 2), line(ps[(i+2)%3], 1)),
				"Idempotency-Key", fmt.Sprintf("place-%d", i))
		}
	})
	close(stop)
	conflicting := <-writes + <-writes

	var placed []order
	unavailable := 0
	for i, r := range answers {
		switch {
		case r.Status == 503:
			wantUnavailable(t, fmt.Sprintf("request %d", i), r)
			unavailable++
		case i < 40 && r.Status == 200:
		case i >= 40 && r.Status == 201:
			var o order
			if err := json.Unmarshal(r.Body, &o); err != nil {
				t.Fatal(err)
			}
			placed = append(placed, o)
		default:
			t.Fatalf("request %d answered %d: %s", i, r.Status, r.Body)
		}
	}
	cert, bf := s.aborts()
	t.Logf("under %d conflicting writes through node 2: %d requests, %d answered 503; %d retries, %d certification failures, %d brute-force aborts",
		conflicting, requests, unavailable, s.retries(t)-retries0, cert-cert0, bf-bf0)
	s.checkWhole(t, map[string]int64{ps[0]: start, ps[1]: start, ps[2]: start}, placed)
	for i, r := range answers[:40] {
		if r.Status != 200 {
			continue
		}
		want := map[bool]string{true: "CONFIRMED", false: "CANCELED"}[i < 20]
		for _, c := range s.replicas {
			var got order
			c.Do(t, "GET", "/orders/"+existing[i], nil).Want(t, 200).JSON(t, &got)
			if got.Status != want {
				t.Errorf("order %s answered %s, reads %s", existing[i], want, got.Status)
			}
		}
	}
}
