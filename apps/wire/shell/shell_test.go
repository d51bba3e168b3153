package shell

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/fx/fxtest"
)

// A request head over MaxHeaderBytes is answered 431 before the handler
// runs; one well under it is served.
func TestServerRefusesOversizedHeaders(t *testing.T) {
	lc := fxtest.NewLifecycle(t)
	srv := NewServer(lc, slog.New(slog.DiscardHandler), ServerConfig{Name: "test", Port: 0},
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	lc.RequireStart()
	defer lc.RequireStop()
	url := "http://127.0.0.1" + srv.Addr()[strings.LastIndex(srv.Addr(), ":"):] + "/"

	for _, tc := range []struct {
		name   string
		size   int
		status int
	}{
		{"a 16 KiB header", 16 << 10, http.StatusOK},
		{"a 128 KiB header", 128 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{"a 1 MiB header", 1 << 20, http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-Filler", strings.Repeat("a", tc.size))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		res.Body.Close()
		if res.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.status)
		}
	}
}
