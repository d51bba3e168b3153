package shell

import (
	"database/sql"
	"io/fs"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/adapters/mysql"
)

// LoadAuth reads the secrets every shell checks bearer tokens against.
func LoadAuth(env *Env) httpapi.AuthConfig {
	return httpapi.AuthConfig{
		JWTSecret:    env.Secret("JWT_SECRET", MinSecretLen),
		ServiceToken: env.Secret("SERVICE_TOKEN", MinSecretLen),
	}
}

// LoadMySQL reads DATABASE_URL, for a database that must have schema, and
// DB_TIMEOUT, the longest a request waits on it.
func LoadMySQL(env *Env, schema fs.FS) mysql.Config {
	return mysql.Config{
		DSN: env.Required("DATABASE_URL", func(v string) error {
			_, err := mysql.ParseDSN(v)
			return err
		}),
		Schema:  schema,
		Timeout: env.Duration("DB_TIMEOUT", mysql.DefaultTimeout),
	}
}

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
