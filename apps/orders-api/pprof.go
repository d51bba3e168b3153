//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

// Built with -tags pprof, the binary serves the runtime profiles on
// PPROF_ADDR (default 127.0.0.1:6060), for benchmarking only.
func init() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6060"
	}
	go http.ListenAndServe(addr, nil)
}
