package mysql

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// schemaLockWait bounds how long a replica waits for another one to finish
// applying the schema before it gives up starting.
const schemaLockWait = 2 * time.Minute

// schemaLockPoll is how often a waiting replica asks for the schema lock.
const schemaLockPoll = 50 * time.Millisecond

// applySchema brings the database up to the newest version in schema, and
// finishes a step that a replica left dirty by dying in the middle of it.
//
// Why that is safe: every step is one idempotent statement (see package
// migrations), so applying a dirty step again leaves the schema as one
// clean run would, whether the dead replica's statement took effect or not. It
// would not be safe while a live replica is applying that step, since a step
// is dirty for as long as it runs. So the whole sequence (read the version,
// rewind a dirty step, apply what is missing) runs under one lock of our
// own, held on a connection of its own from before the version is read until
// after the last step: golang-migrate's lock covers one of its calls at a
// time only. While we hold it, a dirty step can only be a dead replica's.
// The server drops a session's locks when its connection goes, so a killed
// replica does not keep the others waiting.
//
// On a Galera cluster the lock is only the node's: replicas starting
// together on different nodes may apply the schema at the same time. That
// is safe for the same reason a dirty step is (every step is idempotent,
// and the cluster runs DDL in one total order), but their writes of the
// version row conflict, and one of them may find a step the other is
// applying dirty, or a step that checks the schema before it changes it
// may find the change made by the time it makes it. Those attempts are run
// again, as a whole, a bounded number of times within the time a replica
// waits for the lock; each ends with the newest version recorded
// clean, whoever records it last.
func applySchema(cfg *mysql.Config, schema fs.FS) error {
	deadline := time.Now().Add(schemaLockWait)
	for n := 1; ; n++ {
		err := applySchemaOnce(cfg, schema)
		if err == nil || !schemaConflict(err) || n == maxSchemaAttempts || time.Now().After(deadline) {
			return err
		}
		pause := time.Duration(min(n, 10)) * 20 * time.Millisecond
		time.Sleep(pause/2 + rand.N(pause))
	}
}

// schemaConflict reports a failure of applySchemaOnce that another replica
// applying the schema through another node of a cluster can cause: a
// conflict on the version row (a deadlock or certification failure, a lock
// wait timeout, a snapshot conflict, or the version another node's replica
// wrote found by this one's INSERT of it), a node that is not ready yet, or
// a step found dirty after this replica looked for dirty steps, or the
// version table created by another replica after this one looked for it.
func schemaConflict(err error) bool {
	if errors.As(err, new(migrate.ErrDirty)) {
		return true
	}
	var de database.Error
	var dp *database.Error
	var query []byte
	switch {
	case errors.As(err, &dp) && dp != nil:
		err, query = dp.OrigErr, dp.Query
	case errors.As(err, &de):
		err, query = de.OrigErr, de.Query
	}
	switch errNumber(err) {
	case errNodeNotReady, errTableExists, errDupColumn, errDupKey, errCantDrop:
		return true
	case errDuplicate:
		// golang-migrate writes the version as DELETE … LIMIT 1 then
		// INSERT; replicas writing it through different nodes can leave
		// two rows (see keepNewestVersion, which the next attempt runs),
		// and the INSERT then finds its version there. A step's own
		// duplicate (a unique key over duplicate rows) is not a conflict.
		return bytes.Contains(query, []byte("schema_migrations"))
	}
	return retryable(err)
}

// What a step that checks the schema and then changes it (and golang-migrate's
// CREATE TABLE schema_migrations, run after it found no such table) meets
// when another node's replica made the same change in between. Run again,
// the step finds the change made and does nothing.
const (
	errTableExists = 1050
	errDupColumn   = 1060
	errDupKey      = 1061
	errCantDrop    = 1091
)

// maxSchemaAttempts bounds the attempts of applySchema, so that a step that
// fails the same way every time fails the start without waiting out
// schemaLockWait.
const maxSchemaAttempts = 20

// applySchemaOnce is one attempt of applySchema.
func applySchemaOnce(cfg *mysql.Config, schema fs.FS) error {
	cfg = cfg.Clone()
	cfg.MultiStatements = true
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	// A pool of its own: closing it ends both sessions, which gives the lock
	// back even if RELEASE_LOCK could not be sent.
	db := sql.OpenDB(connector)
	defer db.Close()

	lockConn, err := db.Conn(context.Background())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer lockConn.Close()
	name := schemaLockName(cfg.DBName)
	if err := lockSchema(lockConn, name); err != nil {
		return fmt.Errorf("lock %q: %w", name, err)
	}
	defer lockConn.ExecContext(context.Background(), "SELECT RELEASE_LOCK(?)", name)

	migConn, err := db.Conn(context.Background())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	drv, err := migratemysql.WithConnection(context.Background(), migConn, &migratemysql.Config{DatabaseName: cfg.DBName})
	if err != nil {
		migConn.Close()
		return fmt.Errorf("open schema_migrations: %w", err)
	}
	src, err := iofs.New(schema, ".")
	if err != nil {
		drv.Close()
		return err
	}
	m, err := migrate.NewWithInstance("iofs", src, cfg.DBName, drv)
	if err != nil {
		drv.Close()
		src.Close()
		return err
	}
	defer m.Close()

	if err := keepNewestVersion(lockConn); err != nil {
		return err
	}
	if err := rewindDirty(m, drv, src); err != nil {
		return err
	}
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

// keepNewestVersion leaves schema_migrations with its newest row only.
// golang-migrate keeps one row, replaced by DELETE … LIMIT 1 then INSERT;
// replicas writing it at once through different nodes of a cluster, one of
// them rewinding a dirty step, can leave two rows (seen: "2" and "3 dirty"),
// and then every later write of the version fails as a duplicate. The
// newest row is the truth: a replica writes version v only once the steps
// before v are applied, and a dirty v is applied again. On one server the
// table never holds two rows, and this is one read.
func keepNewestVersion(conn *sql.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), schemaLockWait)
	defer cancel()
	var rows int
	var newest sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&rows, &newest); err != nil {
		return fmt.Errorf("read versions: %w", err)
	}
	if rows < 2 {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version < ?", newest.Int64); err != nil {
		return fmt.Errorf("keep the newest of %d versions: %w", rows, err)
	}
	return nil
}

// rewindDirty sets a dirty version back to the step before it (to no version
// when it is the first), so that Up applies it again.
func rewindDirty(m *migrate.Migrate, drv database.Driver, src source.Driver) error {
	v, dirty, err := drv.Version()
	if err != nil {
		return fmt.Errorf("read version: %w", err)
	}
	if !dirty {
		return nil
	}
	prev := database.NilVersion
	if v != database.NilVersion {
		r, _, err := src.ReadUp(uint(v))
		if err != nil {
			return fmt.Errorf("dirty at version %d, which this build does not have: %w", v, err)
		}
		r.Close()
		if p, err := src.Prev(uint(v)); err == nil {
			prev = int(p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("dirty at version %d: %w", v, err)
		}
	}
	if err := m.Force(prev); err != nil {
		return fmt.Errorf("rewind dirty version %d to %d: %w", v, prev, err)
	}
	return nil
}

// schemaLockName names the lock that serializes schema changes to database
// db. Lock names are server-wide and at most 64 characters long, so a long
// database name is replaced by its hash; golang-migrate's own lock name is a
// number, so the two never meet.
func schemaLockName(db string) string {
	if name := "schema:" + db; len(name) <= 64 {
		return name
	}
	sum := sha256.Sum256([]byte(db))
	return "schema:" + hex.EncodeToString(sum[:20])
}

// lockSchema takes the named lock on conn within schemaLockWait. It asks
// again and again rather than waiting inside the server: the dev stack's
// embedded engine runs one statement at a time, so a GET_LOCK waiting there
// would keep the holder from ever finishing.
func lockSchema(conn *sql.Conn, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), schemaLockWait)
	defer cancel()
	for {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil {
			return err
		}
		if got.Int64 == 1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still held by another replica after %v", schemaLockWait)
		case <-time.After(schemaLockPoll):
		}
	}
}
