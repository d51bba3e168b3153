package shell

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/b2borders/platform/adapters/httpapi"
)

// LoadAuth reads the secrets every shell checks bearer tokens against.
func LoadAuth(env *Env) httpapi.AuthConfig {
	return httpapi.AuthConfig{
		JWTSecret:    env.Secret("JWT_SECRET", MinSecretLen),
		ServiceToken: env.Secret("SERVICE_TOKEN", MinSecretLen),
	}
}

// NewRegistry returns a metrics registry of the service's own, with the Go
// runtime and process collectors: several services may share one process.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// RegisterCounters adds one counter, name, per value of its label, each
// read from its function when scraped.
func RegisterCounters(reg *prometheus.Registry, name, help, label string, values map[string]func() uint64) {
	for v, n := range values {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: name, Help: help, ConstLabels: prometheus.Labels{label: v},
		}, func() float64 { return float64(n()) }))
	}
}
