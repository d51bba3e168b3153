package webhooks_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/b2borders/platform/adapters/httpapi"
)

// secret is the endpoint's secret in every test: the Standard Webhooks
// specification's example key.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// verify checks a delivery as a consumer would, with the standard library
// only: the signature over "id.timestamp.body" under the key the secret
// holds, and a timestamp within five minutes. It is the README's snippet.
func verify(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || id == "" {
		return fmt.Errorf("missing webhook-id or webhook-timestamp")
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s is too far from now", ts)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, b64, ok := strings.Cut(sig, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if ok && v == "v1" && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no valid v1 signature in %q", h.Get("webhook-signature"))
}

// webhookSchema is the OpenAPI document's WebhookEvent: every delivered
// body must match it.
var webhookSchema = sync.OnceValues(func() (*openapi3.Schema, error) {
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OrdersOpenAPI)
	if err != nil {
		return nil, err
	}
	ref, ok := doc.Components.Schemas["WebhookEvent"]
	if !ok {
		return nil, fmt.Errorf("the orders-api document has no WebhookEvent schema")
	}
	return ref.Value, nil
})

// conforms checks a delivered body against WebhookEvent.
func conforms(body []byte) error {
	schema, err := webhookSchema()
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	return schema.VisitJSON(v)
}

// delivered is one request the receiver got.
type delivered struct {
	ID       string
	Type     string
	Resource string // type/id
	Seq      int64
	Data     json.RawMessage
	Body     []byte
	At       time.Time
}

// receiver is a webhook endpoint for a test. It verifies every request's
// signature, answers what answer says (200 by default), and notices two
// requests for one event id in flight at once.
type receiver struct {
	t   *testing.T
	srv *http.Server
	ln  net.Listener
	url string

	mu       sync.Mutex
	got      []delivered
	inFlight map[string]int
	overlaps []string
	invalid  []string
	// answer returns the status for a delivery; nil answers 200.
	answer func(d delivered, attempt int) int
	// hold, when set, makes each request wait for it before answering.
	hold     time.Duration
	attempts map[string]int
}

// newReceiver listens on a free port of 127.0.0.1.
func newReceiver(t *testing.T) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, inFlight: map[string]int{}, attempts: map[string]int{}, url: "http://" + ln.Addr().String() + "/hooks"}
	r.serve(ln)
	t.Cleanup(r.stop)
	return r
}

func (r *receiver) serve(ln net.Listener) {
	r.ln = ln
	r.srv = &http.Server{Handler: http.HandlerFunc(r.handle)}
	go r.srv.Serve(ln)
}

// stop closes the endpoint: later deliveries find nothing listening.
func (r *receiver) stop() {
	r.srv.Close()
}

// restart listens again on the same address.
func (r *receiver) restart() {
	r.t.Helper()
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", r.ln.Addr().String()); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("listen again on %s: %v", r.ln.Addr(), err)
	}
	r.serve(ln)
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	var e eventBody
	d := delivered{Body: body, At: time.Now()}
	if err := json.Unmarshal(body, &e); err == nil {
		d.ID, d.Type, d.Resource, d.Seq, d.Data = e.ID, e.Type, e.Resource.Type+"/"+e.Resource.ID, e.Seq, e.Data
	}
	r.mu.Lock()
	if err := verify(secret, req.Header, body); err != nil || req.Header.Get("webhook-id") != d.ID {
		r.invalid = append(r.invalid, fmt.Sprintf("%s: %v (webhook-id %q)", d.ID, err, req.Header.Get("webhook-id")))
	}
	if err := conforms(body); err != nil {
		r.invalid = append(r.invalid, fmt.Sprintf("%s: the body does not match WebhookEvent: %v", d.ID, err))
	}
	r.inFlight[d.ID]++
	if r.inFlight[d.ID] > 1 {
		r.overlaps = append(r.overlaps, d.ID)
	}
	r.attempts[d.ID]++
	attempt := r.attempts[d.ID]
	answer, hold := r.answer, r.hold
	r.mu.Unlock()

	if hold > 0 {
		time.Sleep(hold)
	}
	status := http.StatusOK
	if answer != nil {
		status = answer(d, attempt)
	}
	r.mu.Lock()
	r.inFlight[d.ID]--
	if status/100 == 2 {
		r.got = append(r.got, d)
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

// accepted returns the deliveries answered 2xx, in the order they arrived.
func (r *receiver) accepted() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivered(nil), r.got...)
}

// requests returns how many requests arrived for event id.
func (r *receiver) requests(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[id]
}

// check fails the test for any delivery with a bad signature or a body
// that does not match the OpenAPI document's WebhookEvent, and any two
// deliveries of one event that overlapped.
func (r *receiver) check() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.invalid {
		r.t.Errorf("invalid delivery: %s", s)
	}
	for _, id := range r.overlaps {
		r.t.Errorf("event %s was delivered by two requests at once", id)
	}
}
