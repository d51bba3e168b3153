// Package dbshell is what the shells backed by a database share on top of
// package shell: reading the database's configuration and answering
// readiness by it. It is apart from shell so that a shell without a
// database, the orchestrator, links no database driver or migrations.
package dbshell

import (
	"context"
	"fmt"
	"io/fs"

	"go.opentelemetry.io/otel/trace"

	"github.com/b2borders/platform/adapters/httpapi"
	"github.com/b2borders/platform/adapters/mysql"
	"github.com/b2borders/platform/apps/wire/shell"
	"github.com/b2borders/platform/core/errs"
)

// LoadMySQL reads DATABASE_URL, for a database that must have schema, and
// DB_TIMEOUT, the longest a request waits on it.
func LoadMySQL(env *shell.Env, schema fs.FS) mysql.Config {
	return mysql.Config{
		DSN: env.Required("DATABASE_URL", func(v string) error {
			_, err := mysql.ParseDSN(v)
			return err
		}),
		Schema:  schema,
		Timeout: env.Duration("DB_TIMEOUT", mysql.DefaultTimeout),
	}
}

// DatabaseOps are the operational endpoints of a service backed by db: it
// is ready while db answers and, on a Galera cluster, its node is synced
// (mysql.DB.Ready), and its metrics count the database
// work run again because of contention.
func DatabaseOps(db *mysql.DB, openAPI []byte, traces trace.TracerProvider) httpapi.Ops {
	ready := func(ctx context.Context) error {
		if err := db.Ready(ctx); err != nil {
			return fmt.Errorf("%w: %v", errs.New(errs.DependencyUnavailable, "the database does not answer"), err)
		}
		return nil
	}
	reg := shell.NewRegistry()
	shell.RegisterCounters(reg, "db_retries_total",
		"Database transactions run again, by the cause of the attempt before: a deadlock (or Galera certification failure), a lock wait timeout, a snapshot conflict.",
		"cause", map[string]func() uint64{
			"deadlock":          func() uint64 { return db.Retries().Deadlocks },
			"lock_wait_timeout": func() uint64 { return db.Retries().LockWaitTimeouts },
			"snapshot_conflict": func() uint64 { return db.Retries().SnapshotConflicts },
		})
	return httpapi.Ops{Ready: ready, Registry: reg, OpenAPI: openAPI, Traces: traces}
}
