package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/b2borders/platform/core/errs"
)

// DB is a service's connection pool and the bound on every call the stores
// make through it.
type DB struct {
	*sql.DB
	timeout time.Duration
	// retries counts the attempts run again, by the error number that
	// ended the one before.
	deadlocks, lockWaits, snapshotConflicts atomic.Uint64
	// render makes event payloads; written counts the events committed.
	render  Renderers
	written eventCounts
	// tracer makes a span of every call made inside a traced request;
	// nil when the service traces nothing.
	tracer trace.Tracer
	// name is the database's, for the spans' db.namespace.
	name string
}

// Retries counts the attempts a DB ran again, by cause since it opened.
type Retries struct {
	// Deadlocks includes Galera certification failures.
	Deadlocks         uint64
	LockWaitTimeouts  uint64
	SnapshotConflicts uint64
}

// Retries returns how many attempts were run again, by cause: a measure of
// contention, for metrics.
func (db *DB) Retries() Retries {
	return Retries{db.deadlocks.Load(), db.lockWaits.Load(), db.snapshotConflicts.Load()}
}

// count records a retry caused by err.
func (db *DB) count(err error) {
	switch errNumber(err) {
	case errDeadlock:
		db.deadlocks.Add(1)
	case errLockWaitTimeout:
		db.lockWaits.Add(1)
	case errRecordChanged:
		db.snapshotConflicts.Add(1)
	}
}

// MySQL and MariaDB error numbers the adapters act on.
const (
	errRecordChanged   = 1020 // MariaDB snapshot isolation: a row changed since this transaction read it
	errTooManyConns    = 1040
	errNodeNotReady    = 1047 // Galera: the node is not part of the primary component
	errShutdown        = 1053
	errDuplicate       = 1062
	errLockWaitTimeout = 1205
	errDeadlock        = 1213 // also a Galera certification failure
	errReadOnly        = 1290 // --read-only, as a demoted primary is
	errConnKilled      = 1927
)

func errNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func isDuplicate(err error) bool { return errNumber(err) == errDuplicate }

// retryable reports an error after which the database has rolled the whole
// transaction back and the same work may simply run again. A lock wait
// timeout rolls back only its statement, but the runner rolls back the
// rest, so it joins them.
func retryable(err error) bool {
	switch errNumber(err) {
	case errDeadlock, errLockWaitTimeout, errRecordChanged:
		return true
	}
	return false
}

// maxAttempts bounds the runs of one call; the call's deadline usually
// stops it first.
const maxAttempts = 8

// run makes one call to the database: attempt, run again after a deadlock,
// a lock wait timeout or a snapshot conflict with a growing, jittered pause,
// until it succeeds, fails otherwise, or the call's time (the DB's timeout,
// or ctx's deadline if sooner) runs out. A failure is returned wrapped with
// op, and a database that is down, frozen or still contended when the time
// is up is errs.DependencyUnavailable.
//
// op names the kind of call ("get product", "place order"), optionally
// followed by the id of the row it is about ("place order 0192…"). Inside a
// traced request the call is one span, "db " and the kind ("db place
// order"), with the id as an attribute (app.order_id), never in the name,
// and an event for every attempt run again.
func (db *DB) run(ctx context.Context, op string, attempt func(context.Context) error) (err error) {
	var span trace.Span
	if db.tracer != nil && trace.SpanFromContext(ctx).IsRecording() {
		ctx, span = db.startSpan(ctx, op)
		defer func() { endSpan(span, err) }()
	}
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	for n := 1; ; n++ {
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		if !retryable(err) || n == maxAttempts {
			return failed(ctx, op, err)
		}
		pause := time.Duration(n) * 4 * time.Millisecond
		t := time.NewTimer(pause/2 + rand.N(pause))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return failed(ctx, op, err)
		}
		db.count(err)
		if span != nil {
			span.AddEvent("retry", trace.WithAttributes(
				attribute.Int("db.response.status_code", int(errNumber(err))),
				attribute.Int("app.db.attempt", n+1)))
		}
	}
}

// startSpan starts the client span of one call named by op.
func (db *DB) startSpan(ctx context.Context, op string) (context.Context, trace.Span) {
	kind, id := splitOp(op)
	attrs := []attribute.KeyValue{semconv.DBSystemNameMySQL, semconv.DBOperationName(kind), semconv.DBNamespace(db.name)}
	if id != "" {
		noun := kind[strings.LastIndexByte(kind, ' ')+1:]
		attrs = append(attrs, attribute.String("app."+noun+"_id", id))
	}
	return db.tracer.Start(ctx, "db "+kind, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endSpan ends a call's span with its outcome. A domain answer (not found,
// a conflict, short stock) is the call working: only a failure of the
// database itself marks the span as an error.
func endSpan(span trace.Span, err error) {
	var e *errs.Error
	switch {
	case err == nil:
	case errors.As(err, &e) && e.Code != errs.DependencyUnavailable:
		span.SetAttributes(attribute.String("app.error_code", string(e.Code)))
	default:
		if n := errNumber(err); n != 0 {
			span.SetAttributes(attribute.Int("db.response.status_code", int(n)))
		}
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// splitOp separates a trailing id from op: "place order 0192…" is the kind
// "place order" and the id.
func splitOp(op string) (kind, id string) {
	i := strings.LastIndexByte(op, ' ')
	if i > 0 && len(op)-i-1 == 36 && uuid.Validate(op[i+1:]) == nil {
		return op[:i], op[i+1:]
	}
	return op, ""
}

// tx is run for a transaction: fn's statements, one per round trip, then
// COMMIT. fn must return the first error any statement returns: the
// transaction is rolled back on every error, so no statement that follows a
// failed or aborted one is ever committed.
//
// One statement per round trip is what keeps a transaction whole on a
// Galera cluster: a conflicting write on another node that aborts it
// between two statements is answered to the next one as a deadlock, while
// inside a multi-statement query the abort goes unreported and the rest of
// the query runs outside the transaction. It is also why the write paths
// send their locking statement last (see OrderStore.Place): a round trip
// added before it costs throughput, not time under a row lock.
//
// The one exception is a batch of INSERTs of new rows sent as a
// transaction's first statement (see statement.batch): until it has run,
// the transaction holds no row that another transaction, local or
// replicated, can want, so nothing can abort it from outside while the
// batch runs; an error inside the batch stops it there, and the rollback
// takes back what ran before.
func (db *DB) tx(ctx context.Context, op string, fn func(context.Context, *sql.Tx) error) error {
	return db.txWith(ctx, op, nil, fn)
}

// txWith is tx with the given options, such as an isolation level (which
// costs one more round trip, before the transaction begins).
func (db *DB) txWith(ctx context.Context, op string, opts *sql.TxOptions, fn func(context.Context, *sql.Tx) error) error {
	return db.run(ctx, op, func(ctx context.Context) error {
		tx, err := db.BeginTx(ctx, opts)
		if err != nil {
			return err
		}
		if err := fn(ctx, tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// failed wraps err with op, making it a domain error when the database is
// the cause: unreachable, gone mid-call, out of time, or still contended.
// A COMMIT whose answer was lost may have committed; that, too, is
// unavailable, and a client retries it with its idempotency key.
func failed(ctx context.Context, op string, err error) error {
	if unavailable(ctx, err) {
		return fmt.Errorf("%s: %w: %w", op, errs.New(errs.DependencyUnavailable, "the database is unavailable; try again"), err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable reports whether err is the database's failure rather than the
// request's: the call ran out of time or contention, or the connection,
// the server or its cluster could not serve it.
func unavailable(ctx context.Context, err error) bool {
	var e *errs.Error
	if errors.As(err, &e) {
		return false
	}
	if ctx.Err() != nil || retryable(err) {
		return true
	}
	switch errNumber(err) {
	case errTooManyConns, errNodeNotReady, errShutdown, errReadOnly, errConnKilled:
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone)
}

// statement is one SQL statement and its arguments; the zero statement is
// none.
type statement struct {
	sql  string
	args []any
}

// exec runs s in tx, if s is a statement.
func (s statement) exec(ctx context.Context, tx *sql.Tx) error {
	if s.sql == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, s.sql, s.args...)
	return err
}

// batch joins INSERTs of rows that are new to the database, the first
// statements of a transaction, into one multi-statement query: one round
// trip instead of one each. Only such INSERTs may be batched, and only
// before the transaction's first lock on an existing row (see DB.tx).
func batch(inserts ...statement) statement {
	var b statement
	for _, s := range inserts {
		if s.sql == "" {
			continue
		}
		if b.sql != "" {
			b.sql += "; "
		}
		b.sql += s.sql
		b.args = append(b.args, s.args...)
	}
	return b
}
