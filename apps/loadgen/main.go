// Command loadgen measures the orders platform under load: it seeds a
// customer and a catalogue, then drives one kind of request at a fixed
// concurrency for a bounded time and prints throughput, latency percentiles
// and errors. BENCHMARKS.md says how its figures compare with the database's
// own ceiling.
//
//	go run ./apps/loadgen -token "$SERVICE_TOKEN" -mode random -concurrency 32 -duration 20s
//
// Modes:
//
//	random        POST /orders, two lines on a random pair of the seeded products
//	hot           POST /orders, every order on the same two products (row-lock contention)
//	get-product   GET /products/{id} on a random seeded product
//	orchestrated  POST /orchestrator/create-and-confirm-order at -orchestrator-url,
//	              two lines on a random pair, a fresh idempotency key each
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

type config struct {
	ordersURL, customersURL, orchestratorURL string
	token                                    string
	mode                                     string
	concurrency                              int
	duration, warmup                         time.Duration
	products                                 int
	timeout                                  time.Duration
	jsonOut                                  bool

	// ordersURLs are the replicas placements are spread over, at random;
	// -orders-url takes them comma-separated, and seeds through the first.
	ordersURLs []string
}

// maxDuration bounds a run, so a typo cannot leave a load running for hours.
const maxDuration = 10 * time.Minute

func main() {
	var cfg config
	flag.StringVar(&cfg.ordersURL, "orders-url", "http://localhost:3002", "orders-api base URL; several, comma-separated, spread placements over replicas")
	flag.StringVar(&cfg.customersURL, "customers-url", "http://localhost:3001", "customers-api base URL")
	flag.StringVar(&cfg.orchestratorURL, "orchestrator-url", "http://localhost:3000", "orchestrator base URL (mode orchestrated)")
	flag.StringVar(&cfg.token, "token", os.Getenv("SERVICE_TOKEN"), "bearer token: the service token or an operator JWT (default $SERVICE_TOKEN)")
	flag.StringVar(&cfg.mode, "mode", "random", "random | hot | get-product | orchestrated")
	flag.IntVar(&cfg.concurrency, "concurrency", 32, "requests in flight at once")
	flag.DurationVar(&cfg.duration, "duration", 20*time.Second, "how long to measure, after the warm-up")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "load applied before measuring, not counted")
	flag.IntVar(&cfg.products, "products", 400, "products to seed (hot mode seeds 2)")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "timeout of one request")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the result as one JSON object")
	flag.Parse()
	cfg.ordersURLs = strings.Split(cfg.ordersURL, ",")
	cfg.ordersURL = cfg.ordersURLs[0]

	if err := cfg.check(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	if cfg.jsonOut {
		json.NewEncoder(os.Stdout).Encode(res)
	} else {
		res.print(os.Stdout)
	}
}

func (c config) check() error {
	switch {
	case c.token == "":
		return errors.New("-token (or SERVICE_TOKEN) is required")
	case !slices.Contains([]string{"random", "hot", "get-product", "orchestrated"}, c.mode):
		return fmt.Errorf("unknown -mode %q", c.mode)
	case c.concurrency < 1 || c.concurrency > 1024:
		return errors.New("-concurrency must be 1 to 1024")
	case c.duration <= 0 || c.duration+c.warmup > maxDuration:
		return fmt.Errorf("-duration plus -warmup must be positive and at most %s", maxDuration)
	case c.products < 2:
		return errors.New("-products must be at least 2")
	}
	return nil
}

// client is a bearer-token JSON client with a connection per worker.
type client struct {
	http  *http.Client
	token string
}

func newClient(cfg config) *client {
	return &client{
		http: &http.Client{
			Timeout: cfg.timeout,
			Transport: &http.Transport{
				MaxIdleConns:        2 * cfg.concurrency,
				MaxIdleConnsPerHost: 2 * cfg.concurrency,
				IdleConnTimeout:     90 * time.Second,
			},
		},
		token: cfg.token,
	}
}

// do sends one request and reads the answer whole, so the connection is
// reused. out, when not nil, receives a 2xx JSON body.
func (c *client) do(ctx context.Context, method, url string, body []byte, out any, header ...string) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if out != nil && res.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	return res.StatusCode, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// seed is what the load runs against.
type seed struct {
	customerID string
	productIDs []string
}

// hotStock is the stock of each product: more than any run can sell, so that
// every order succeeds and only contention is measured, and no more than
// the catalogue accepts.
const hotStock = 1_000_000_000 // the most a product may hold

func seedData(ctx context.Context, c *client, cfg config) (seed, error) {
	run := time.Now().UTC().Format("20060102T150405.000000")
	var s seed
	var cust struct {
		ID string `json:"id"`
	}
	status, err := c.do(ctx, "POST", cfg.customersURL+"/customers", mustJSON(map[string]any{
		"name": "Loadgen " + run, "email": "loadgen-" + strings.ReplaceAll(run, ".", "-") + "@example.com",
	}), &cust)
	if err != nil || status != http.StatusCreated {
		return s, fmt.Errorf("seed customer: status %d: %v", status, err)
	}
	s.customerID = cust.ID

	n := cfg.products
	if cfg.mode == "hot" {
		n = 2
	}
	s.productIDs = make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var p struct {
				ID string `json:"id"`
			}
			status, err := c.do(ctx, "POST", cfg.ordersURL+"/products", mustJSON(map[string]any{
				"sku": fmt.Sprintf("LG-%s-%04d", run, i), "name": fmt.Sprintf("Loadgen product %d", i),
				"price_cents": 100 + i, "stock": int64(hotStock),
			}), &p)
			if err != nil || status != http.StatusCreated {
				errs <- fmt.Errorf("seed product %d: status %d: %v", i, status, err)
				return
			}
			s.productIDs[i] = p.ID
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return s, err
	}
	return s, nil
}

// request builds a worker's next request: method, URL, body.
type request func(r *rand.Rand) (string, string, []byte, []string)

// orderJSON writes the body of a two-line order on a random pair of
// distinct products, in a random line order, followed by extra fields. It
// is written by hand: the generator shares the machine with what it
// measures, so it should spend as little CPU as it can.
func orderJSON(s seed, r *rand.Rand, extra string) []byte {
	a := r.IntN(len(s.productIDs))
	b := r.IntN(len(s.productIDs) - 1)
	if b >= a {
		b++
	}
	buf := make([]byte, 0, 192)
	buf = append(buf, `{"customer_id":"`...)
	buf = append(buf, s.customerID...)
	buf = append(buf, `","items":[{"product_id":"`...)
	buf = append(buf, s.productIDs[a]...)
	buf = append(buf, `","qty":1},{"product_id":"`...)
	buf = append(buf, s.productIDs[b]...)
	buf = append(buf, `","qty":1}]`...)
	buf = append(buf, extra...)
	return append(buf, '}')
}

func requestFor(cfg config, s seed) request {
	switch cfg.mode {
	case "get-product":
		return func(r *rand.Rand) (string, string, []byte, []string) {
			return "GET", cfg.ordersURL + "/products/" + s.productIDs[r.IntN(len(s.productIDs))], nil, nil
		}
	case "orchestrated":
		// The orchestrator engineer's endpoint: create and confirm, exactly
		// once per idempotency key.
		url := cfg.orchestratorURL + "/orchestrator/create-and-confirm-order"
		return func(r *rand.Rand) (string, string, []byte, []string) {
			key := fmt.Sprintf(`,"idempotency_key":"lg-%016x%016x"`, r.Uint64(), r.Uint64())
			return "POST", url, orderJSON(s, r, key), nil
		}
	default: // random and hot: with two products, a random pair is the hot pair in either order.
		return func(r *rand.Rand) (string, string, []byte, []string) {
			url := cfg.ordersURLs[r.IntN(len(cfg.ordersURLs))] + "/orders"
			return "POST", url, orderJSON(s, r, ""), nil
		}
	}
}

// wantStatus is the status of a successful request in each mode.
func wantStatus(mode string) int {
	if mode == "get-product" {
		return http.StatusOK
	}
	return http.StatusCreated
}

// result is one run's figures.
type result struct {
	Mode        string         `json:"mode"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	Requests    int            `json:"requests"`
	OK          int            `json:"ok"`
	Errors      map[string]int `json:"errors"`
	Throughput  float64        `json:"throughput_rps"`
	OKPerSecond float64        `json:"ok_rps"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
}

func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "mode=%s concurrency=%d measured=%.1fs\n", r.Mode, r.Concurrency, r.Seconds)
	fmt.Fprintf(w, "requests=%d ok=%d throughput=%.0f req/s ok=%.0f req/s\n", r.Requests, r.OK, r.Throughput, r.OKPerSecond)
	fmt.Fprintf(w, "latency p50=%.2fms p90=%.2fms p99=%.2fms max=%.2fms\n", r.P50ms, r.P90ms, r.P99ms, r.MaxMs)
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, r.Errors[k]))
	}
	fmt.Fprintf(w, "errors=%d {%s}\n", r.Requests-r.OK, strings.Join(parts, " "))
}

// workerStats is one worker's tally of the measured window.
type workerStats struct {
	latencies []time.Duration
	ok        int
	errors    map[string]int
}

func run(ctx context.Context, cfg config) (result, error) {
	c := newClient(cfg)
	s, err := seedData(ctx, c, cfg)
	if err != nil {
		return result{}, err
	}
	next := requestFor(cfg, s)
	want := wantStatus(cfg.mode)

	start := time.Now()
	measureFrom := start.Add(cfg.warmup)
	end := measureFrom.Add(cfg.duration)
	ctx, cancel := context.WithDeadline(ctx, end.Add(cfg.timeout))
	defer cancel()

	stats := make([]workerStats, cfg.concurrency)
	var wg sync.WaitGroup
	for w := range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			st := &stats[w]
			st.errors = map[string]int{}
			st.latencies = make([]time.Duration, 0, 1<<14)
			for {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					return
				}
				method, url, body, header := next(r)
				status, err := c.do(ctx, method, url, body, nil, header...)
				if t0.Before(measureFrom) {
					continue
				}
				st.latencies = append(st.latencies, time.Since(t0))
				switch {
				case err != nil:
					st.errors["transport"]++
				case status != want:
					st.errors[fmt.Sprint(status)]++
				default:
					st.ok++
				}
			}
		}()
	}
	wg.Wait()
	measured := time.Since(measureFrom)
	if measured > cfg.duration {
		// Requests started before the end finish after it; count the
		// window they were started in.
		measured = cfg.duration
	}
	return summarize(cfg, stats, measured), nil
}

func summarize(cfg config, stats []workerStats, measured time.Duration) result {
	res := result{Mode: cfg.mode, Concurrency: cfg.concurrency, Seconds: measured.Seconds(), Errors: map[string]int{}}
	var all []time.Duration
	for _, st := range stats {
		all = append(all, st.latencies...)
		res.OK += st.ok
		for k, v := range st.errors {
			res.Errors[k] += v
		}
	}
	res.Requests = len(all)
	res.Throughput = float64(res.Requests) / measured.Seconds()
	res.OKPerSecond = float64(res.OK) / measured.Seconds()
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := int(p * float64(len(all)-1))
		return float64(all[i].Microseconds()) / 1000
	}
	res.P50ms, res.P90ms, res.P99ms, res.MaxMs = pct(0.50), pct(0.90), pct(0.99), pct(1)
	return res
}
