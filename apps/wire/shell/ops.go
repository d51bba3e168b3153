package shell

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/b2borders/platform/adapters/httpapi"
)

// NewRegistry returns a metrics registry of the service's own, with the Go
// runtime and process collectors: several services may share one process.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// DatabaseOps are the operational endpoints of a service backed by db: it
// is ready while db answers a ping.
func DatabaseOps(db *sql.DB, openAPI []byte) httpapi.Ops {
	return httpapi.Ops{Ready: db.PingContext, Registry: NewRegistry(), OpenAPI: openAPI}
}
