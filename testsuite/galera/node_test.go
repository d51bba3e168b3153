//go:build galera

package galera_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/galera"
)

// nodeTimeout is the replicas' DB_TIMEOUT in the node tests: each database
// call of a request to a lost node must end within it.
const nodeTimeout = 2 * time.Second

// load places orders through a replica until stopped, and keeps what each
// answer was and when.
type load struct {
	mu      sync.Mutex
	answers []timed
	stop    chan struct{}
	once    sync.Once
	done    sync.WaitGroup
}

type timed struct {
	at      time.Time
	replica int
	r       *apptest.Response
	err     error
	took    time.Duration
}

func startLoad(s *stack, customer, product string, replicas ...int) *load {
	l := &load{stop: make(chan struct{})}
	for _, i := range replicas {
		for range 2 {
			l.done.Add(1)
			go func() {
				defer l.done.Done()
				for {
					select {
					case <-l.stop:
						return
					default:
					}
					began := time.Now()
					r, err := send(s.replicas[i], "POST", "/orders", body(customer, line(product, 1)))
					l.mu.Lock()
					l.answers = append(l.answers, timed{at: began, replica: i, r: r, err: err, took: time.Since(began)})
					l.mu.Unlock()
					if err != nil || r.Status != 201 {
						time.Sleep(50 * time.Millisecond)
					}
				}
			}()
		}
	}
	return l
}

// seen reports whether cond holds of the answers so far.
func (l *load) seen(cond func([]timed) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return cond(l.answers)
}

// answered returns a condition on a load's answers: replica i has answered
// status to a placement it began after since.
func answered(i, status int, since time.Time) func([]timed) bool {
	return func(answers []timed) bool {
		for _, a := range answers {
			if a.replica == i && a.err == nil && a.r.Status == status && a.at.After(since) {
				return true
			}
		}
		return false
	}
}

func (l *load) end() []timed {
	l.stopOnce()
	return l.answers
}

// stopOnce stops the load, once, and waits for its requests to end.
func (l *load) stopOnce() {
	l.once.Do(func() { close(l.stop) })
	l.done.Wait()
}

// ready asks a replica's /ready.
func ready(t *testing.T, c *apptest.Client) int {
	t.Helper()
	res, err := http.Get(c.Base + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// wantNodeFault fails t unless r is a 503 with Retry-After for a
// dependency: the database (dependency_unavailable), or customers-api
// (dependency_timeout), which runs on node 1 of the same cluster and whose
// reads wait, like every node's, while the cluster evicts a lost node.
func wantNodeFault(t *testing.T, what string, r *apptest.Response) {
	t.Helper()
	if r.Status == 503 && code(r) == "dependency_timeout" && r.Header.Get("Retry-After") != "" {
		return
	}
	wantUnavailable(t, what, r)
}

// settle bounds the waits for what a node's loss, return or isolation
// makes observable: the cluster evicts a node within seconds and a node
// rejoins within a state transfer, but the machine may be busy.
const settle = 2 * time.Minute

// eventually polls cond every 200 ms until it holds or d has passed.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkLoad fails t on any answer that is neither a placement nor a 503
// for a dependency with Retry-After (wantNodeFault), or that hung (a 503 far beyond
// two calls' timeouts), and returns the placements and, per replica, how
// many placements began after since and how many answers were 503s.
func checkLoad(t *testing.T, answers []timed, since time.Time) (placed []order, after map[int]int, unavailable map[int]int) {
	t.Helper()
	after, unavailable = map[int]int{}, map[int]int{}
	for _, a := range answers {
		if a.err != nil {
			t.Fatalf("replica %d: %v", a.replica, a.err)
		}
		switch a.r.Status {
		case 201:
			var o order
			a.r.JSON(t, &o)
			placed = append(placed, o)
			if a.at.After(since) {
				after[a.replica]++
			}
		case 503:
			wantNodeFault(t, fmt.Sprintf("replica %d", a.replica), a.r)
			unavailable[a.replica]++
			// A placement makes two database calls (stock and prices,
			// then the write), each bounded by the timeout; the slack is
			// for a busy machine, not a hang.
			if a.took > 2*nodeTimeout+15*time.Second {
				t.Errorf("replica %d: a 503 took %v: the request hung on the lost node", a.replica, a.took)
			}
		default:
			t.Fatalf("replica %d answered %d: %s", a.replica, a.r.Status, a.r.Body)
		}
	}
	return placed, after, unavailable
}

// TestNodeLostUnderLoad kills node 3 (SIGKILL) while replicas on all three
// nodes place orders: the replicas on nodes 1 and 2 go on placing, the one
// on node 3 answers 503 (and /ready 503) until the node has rejoined, then
// places again; every node then holds every order and the same stock.
func TestNodeLostUnderLoad(t *testing.T) {
	s := newStack(t, nodeTimeout, 1, 2, 3)
	customer := s.newCustomer(t)
	const start = 100000
	p := s.newProduct(t, 100, start)
	began := time.Now()
	l := startLoad(s, customer, p, 0, 1, 2)
	defer l.stopOnce()
	eventually(t, settle, "every replica places an order", func() bool {
		return l.seen(answered(0, 201, began)) && l.seen(answered(1, 201, began)) && l.seen(answered(2, 201, began))
	})

	killed := time.Now()
	s.cluster.Kill(t, 3)
	restarted := false
	defer func() {
		if !restarted {
			s.cluster.Restart(t, 3)
		}
	}()
	wantNodeFault(t, "placement through the lost node", s.replicas[2].Do(t, "POST", "/orders", body(customer, line(p, 1))))
	if got := ready(t, s.replicas[2]); got != 503 {
		t.Errorf("/ready of the replica on the lost node answered %d, want 503", got)
	}
	eventually(t, settle, "the replicas on nodes 1 and 2 place orders after the kill, the one on node 3 answers the load 503", func() bool {
		return l.seen(answered(0, 201, killed)) && l.seen(answered(1, 201, killed)) && l.seen(answered(2, 503, killed))
	})

	s.cluster.Restart(t, 3)
	restarted = true
	s.cluster.WaitWhole(t, galera.WholeWait)
	eventually(t, settle, "the replica on the rejoined node is ready", func() bool { return ready(t, s.replicas[2]) == 200 })
	s.replicas[2].Do(t, "POST", "/orders", body(customer, line(p, 1))).Want(t, 201)

	placed, after, unavailable := checkLoad(t, l.end(), killed)
	if after[0] == 0 || after[1] == 0 {
		t.Errorf("placements after the kill: %d through node 1, %d through node 2; want some through each", after[0], after[1])
	}
	t.Logf("%d placed; after the kill %v placed and %v answered 503, by replica (replica 2 is on the lost node)", len(placed), after, unavailable)
	// A 503 may hide a committed placement (its COMMIT's answer lost), so
	// stock is checked against the orders each node holds.
	s.checkWhole(t, map[string]int64{p: start}, placed)
}

// TestNodeCutOffIsNotReady cuts node 3 off the cluster (gmcast.isolate):
// the node runs but is no longer a member of the primary component
// (wsrep_ready OFF). Its replica answers /ready and placements with 503
// (error 1047 is unavailable, not a 500) while the replica on node 1 goes
// on; once the node is let back in, its replica is ready and places again.
func TestNodeCutOffIsNotReady(t *testing.T) {
	s := newStack(t, nodeTimeout, 1, 3)
	customer := s.newCustomer(t)
	p := s.newProduct(t, 100, 1000)
	s.replicas[1].Do(t, "POST", "/orders", body(customer, line(p, 1))).Want(t, 201)

	s.cluster.Exec(t, 3, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'")
	rejoin := func() { s.cluster.Exec(t, 3, "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'") }
	cutOff := true
	defer func() {
		if cutOff {
			rejoin()
		}
	}()
	eventually(t, settle, "the replica on the cut-off node is not ready", func() bool { return ready(t, s.replicas[1]) == 503 })
	wantNodeFault(t, "placement through the cut-off node", s.replicas[1].Do(t, "POST", "/orders", body(customer, line(p, 1))))
	eventually(t, settle, "the other nodes form a primary component without node 3", func() bool {
		r, err := send(s.replicas[0], "POST", "/orders", body(customer, line(p, 1)))
		return err == nil && r.Status == 201
	})

	rejoin()
	cutOff = false
	eventually(t, settle, "the replica on the node let back in is ready", func() bool { return ready(t, s.replicas[1]) == 200 })
	s.cluster.WaitWhole(t, galera.WholeWait)
	s.replicas[1].Do(t, "POST", "/orders", body(customer, line(p, 1))).Want(t, 201)
	s.checkWhole(t, map[string]int64{p: 1000}, nil)
}
