package mysql

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQL error numbers the adapters act on.
const (
	errRecordChanged   = 1020 // MariaDB 11.6+ snapshot isolation: a row changed since this transaction read it
	errDuplicate       = 1062
	errLockWaitTimeout = 1205
	errDeadlock        = 1213
)

func errNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func isDuplicate(err error) bool { return errNumber(err) == errDuplicate }

// maxAttempts bounds how often a transaction that lost a deadlock or timed
// out on a lock is run again before the error reaches the caller.
const maxAttempts = 5

// inTx runs fn in a transaction and commits it, retried as withRetries says.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	return withRetries(ctx, func() error { return runTx(ctx, db, fn) })
}

// withRetries runs a transaction, run, until it ends in anything but a
// deadlock, a lock wait timeout or a snapshot conflict, at most maxAttempts
// times. Each of those errors leaves nothing of the transaction behind (run
// rolls back), so run simply runs again, after a jittered pause that keeps
// the contenders from colliding in step.
func withRetries(ctx context.Context, run func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = run()
		if n := errNumber(err); (n != errDeadlock && n != errLockWaitTimeout && n != errRecordChanged) || attempt == maxAttempts {
			return err
		}
		pause := time.Duration(attempt) * 5 * time.Millisecond
		select {
		case <-time.After(pause/2 + rand.N(pause)):
		case <-ctx.Done():
			return err
		}
	}
}

func runTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
