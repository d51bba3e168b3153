package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// BatchDB is a second pool on a service's database whose connections accept
// several statements in one query (go-sql-driver's multiStatements), so
// that a transaction can send START TRANSACTION and its statements in one
// round trip.
//
// It is a pool of its own, rather than the setting on the service's main
// pool, so that only the code written for it can send more than one
// statement at a time: the order store's transactions (place, confirm,
// cancel). Its parameters, like every other query's, are interpolated by
// the driver's own escaping (interpolateParams), never concatenated into
// the text; the separate pool keeps a mistake elsewhere from ever becoming
// a stacked statement. It costs a second set of connections, as many as
// the main pool may open.
type BatchDB struct {
	db *sql.DB
}

// OpenBatchDB opens a BatchDB on the database c names, bounded like the
// main pool. It applies no schema: Open does, on the main pool.
func OpenBatchDB(ctx context.Context, c Config) (*BatchDB, error) {
	cfg, err := ParseDSN(c.DSN)
	if err != nil {
		return nil, err
	}
	cfg.MultiStatements = true
	db, err := openPool(ctx, cfg, c.MaxOpenConns)
	if err != nil {
		return nil, err
	}
	return &BatchDB{db: db}, nil
}

// Close closes the pool.
func (b *BatchDB) Close() error { return b.db.Close() }

// batch is several statements sent as one query. Its parameters are passed
// separately and interpolated by the driver, as every query's are.
type batch struct {
	sql   strings.Builder
	args  []any
	stmts int
}

// newTxBatch returns a batch that begins a transaction.
func newTxBatch() *batch {
	b := &batch{}
	b.add("START TRANSACTION")
	return b
}

// add appends one statement and its parameters.
func (b *batch) add(stmt string, args ...any) {
	if b.stmts > 0 {
		b.sql.WriteString(";\n")
	}
	b.sql.WriteString(stmt)
	b.stmts++
	b.args = append(b.args, args...)
}

// namedArgs converts the parameters as database/sql does before handing
// them to the driver, which Conn.Raw does not.
func (b *batch) namedArgs() ([]driver.NamedValue, error) {
	out := make([]driver.NamedValue, len(b.args))
	for i, a := range b.args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return nil, fmt.Errorf("batch parameter %d: %w", i+1, err)
		}
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out, nil
}

// runTx runs b, a newTxBatch, on one connection of the pool in one round
// trip, hands decide the rows each statement changed, and ends the
// transaction in a second round trip: COMMIT when decide returns nil, else
// ROLLBACK, and decide's error is returned. When a statement of b fails,
// the transaction is rolled back and the statement's error returned
// (MySQL and MariaDB run no statement of b after it; the dev stack's
// engine runs the rest, which the rollback undoes all the same). A
// connection on which the transaction may still be open, its COMMIT or
// ROLLBACK having failed, is closed rather than reused, which rolls the
// transaction back on the server.
func (p *BatchDB) runTx(ctx context.Context, b *batch, decide func(rows []int64) error) error {
	args, err := b.namedArgs()
	if err != nil {
		return err
	}
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var txErr error
	rawErr := conn.Raw(func(dc any) error {
		ex, ok := dc.(driver.ExecerContext)
		if !ok {
			txErr = fmt.Errorf("driver connection %T cannot execute statements", dc)
			return driver.ErrBadConn
		}
		res, err := ex.ExecContext(ctx, b.sql.String(), args)
		if err != nil {
			txErr = err
		} else if r, ok := res.(mysql.Result); !ok {
			txErr = fmt.Errorf("driver result %T has no rows per statement", res)
		} else if rows := r.AllRowsAffected(); len(rows) != b.stmts {
			txErr = fmt.Errorf("a batch of %d statements returned %d results", b.stmts, len(rows))
		} else {
			txErr = decide(rows)
		}
		end := "COMMIT"
		if txErr != nil {
			end = "ROLLBACK"
		}
		if _, err := ex.ExecContext(ctx, end, nil); err != nil {
			if txErr == nil {
				txErr = err
			}
			return driver.ErrBadConn
		}
		return nil
	})
	if txErr != nil {
		return txErr
	}
	return rawErr
}

// lockTx runs a read-modify-write transaction on one connection of the
// pool in three round trips. The first sends read, a newTxBatch whose
// statements take the locks and read what the change depends on, and
// hands its result sets to scan. The second sends the statements write
// returns as one query, the third COMMIT. When scan, write or a statement
// fails, the transaction is rolled back instead and the error returned; a
// connection that cannot roll back is closed, which rolls back on the
// server.
//
// COMMIT is never sent in the same query as a statement that may fail:
// MySQL and MariaDB run no statement of a query after a failed one, but
// the dev stack's engine (go-mysql-server) runs the rest regardless, and
// would commit what the failed statement left half done.
func (p *BatchDB) lockTx(ctx context.Context, read *batch, scan func(*sql.Rows) error, write func() (*batch, error)) error {
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = func() error {
		rows, err := conn.QueryContext(ctx, read.sql.String(), read.args...)
		if err != nil {
			return err
		}
		err = scan(rows)
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		w, err := write()
		if err != nil {
			return err
		}
		if w.stmts > 0 {
			if _, err := conn.ExecContext(ctx, w.sql.String(), w.args...); err != nil {
				return err
			}
		}
		_, err = conn.ExecContext(ctx, "COMMIT")
		return err
	}()
	if err == nil {
		return nil
	}
	if _, rerr := conn.ExecContext(ctx, "ROLLBACK"); rerr != nil {
		conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	return err
}
