package webhooks_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/b2borders/platform/testsuite/apptest"
	"github.com/b2borders/platform/testsuite/dbtest"
)

// buildOrdersAPI builds the orders-api binary into a folder of t's.
func buildOrdersAPI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orders-api")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/b2borders/platform/apps/orders-api").CombinedOutput(); err != nil {
		t.Fatalf("go build orders-api: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// process is an orders-api running as a process of its own.
type process struct {
	cmd    *exec.Cmd
	client *apptest.Client
}

func startProcess(t *testing.T, bin, dsn, customersURL string, r *receiver) *process {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dsn,
		"JWT_SECRET="+apptest.JWTSecret,
		"SERVICE_TOKEN="+apptest.ServiceToken,
		"CUSTOMERS_API_URL="+customersURL,
		fmt.Sprintf("PORT=%d", port),
		"LOG_LEVEL=warn",
		"WEBHOOK_URL="+r.url,
		"WEBHOOK_SECRET="+secret,
		// Claims last 2×1s+2s: a dead replica's claims pass to another in 4s.
		"WEBHOOK_TIMEOUT=1s",
	)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, client: &apptest.Client{Base: fmt.Sprintf("http://127.0.0.1:%d", port), Token: apptest.OperatorToken(t)}}
	t.Cleanup(func() { p.kill() })
	eventually(t, "orders-api answers /health", func() bool {
		res, err := http.Get(p.client.Base + "/health")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return p
}

func (p *process) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

// An orders-api killed with SIGKILL after its events committed, while it is
// sending them, loses none: once their claims run out, another replica
// delivers every one.
func TestKilledBetweenCommitAndDeliveryLosesNothing(t *testing.T) {
	dbtest.RequireInnoDB(t)
	bin := buildOrdersAPI(t)
	r := newReceiver(t)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	firstSeen := make(chan string, 64)
	r.answer = func(d delivered, attempt int) int {
		if attempt == 1 {
			// The first attempt of each event hangs until the sender is
			// dead; its answer reaches no one.
			firstSeen <- d.ID
			<-release
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	s := newStack(t)
	a := startProcess(t, bin, s.dsn, s.custURL, r)
	cust := s.customer()
	p := product(t, a.client, "KILL-1", 10)
	o := orderID(t, place(t, a.client, cust, map[string]int64{p: 2}))
	a.client.Do(t, "POST", "/orders/"+o+"/confirm", nil, "X-Idempotency-Key", "kill-1").Want(t, http.StatusOK)

	// The product's event is being sent: its change committed, its
	// delivery has not happened.
	select {
	case <-firstSeen:
	case <-time.After(90 * time.Second):
		t.Fatal("orders-api never sent an event")
	}
	a.kill()
	once.Do(func() { close(release) })

	b := startProcess(t, bin, s.dsn, s.custURL, r)
	evs := settled(t, b.client, 3)
	allDelivered(t, r, evs)
}
