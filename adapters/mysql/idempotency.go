package mysql

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/idempotency"
)

// A key row is written inside the transaction of the command it guards.
// Until the transaction ends, the row is invisible and its primary key
// entry is locked: a concurrent attempt with the same key blocks on its own
// insert, and when the first commits it fails with a duplicate key and
// reads what the first recorded. If the first rolls back, the second's
// insert simply succeeds. No key is ever left behind by a command that did
// not happen, so there is nothing to clean up after a crash. The status
// column holds COMPLETED on every row: a row is only ever seen committed.

// insertKey records claim's key for target; errKeyTaken when the key is
// recorded already.
func insertKey(ctx context.Context, tx *sql.Tx, c idempotency.Claim, target uuid.UUID) error {
	_, err := tx.ExecContext(ctx,
		"INSERT INTO idempotency_keys (target_type, `key`, target_id, status, request_hash, created_at, expires_at) VALUES (?, ?, ?, 'COMPLETED', ?, ?, ?)",
		string(c.Scope), []byte(c.Key), target[:], c.Fingerprint, c.CreatedAt, c.ExpiresAt)
	if isDuplicate(err) {
		return errKeyTaken
	}
	return err
}

// recorded reads the record of claim's key, which a transaction just found
// taken, as the *idempotency.UsedError the use case settles.
func (s *OrderStore) recorded(ctx context.Context, c idempotency.Claim) error {
	var r idempotency.Record
	err := s.db.run(ctx, "read idempotency key", func(ctx context.Context) error {
		err := s.db.QueryRowContext(ctx,
			"SELECT target_id, request_hash, response_body, expires_at FROM idempotency_keys WHERE target_type = ? AND `key` = ?",
			string(c.Scope), []byte(c.Key)).Scan(&r.TargetID, &r.Fingerprint, &r.Response, &r.ExpiresAt)
		if errors.Is(err, sql.ErrNoRows) {
			// Forgotten since: the zero record has expired.
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	return &idempotency.UsedError{Record: r}
}

// ForgetKey deletes claim's key if it had expired by now. The condition
// keeps a key another attempt recorded meanwhile.
func (s *OrderStore) ForgetKey(ctx context.Context, c idempotency.Claim, now time.Time) error {
	return s.db.run(ctx, "forget idempotency key", func(ctx context.Context) error {
		_, err := s.db.ExecContext(ctx,
			"DELETE FROM idempotency_keys WHERE target_type = ? AND `key` = ? AND expires_at <= ?",
			string(c.Scope), []byte(c.Key), now)
		return err
	})
}

// IdempotencyStore forgets expired keys of orders_db.
type IdempotencyStore struct {
	db *DB
}

var _ idempotency.Purger = (*IdempotencyStore)(nil)

// NewIdempotencyStore returns a store over db.
func NewIdempotencyStore(db *DB) *IdempotencyStore {
	return &IdempotencyStore{db: db}
}

// purgeBatch bounds one delete, so purging a backlog never holds many row
// locks or a long transaction against the commands writing keys.
const purgeBatch = 1000

// Purge deletes the keys that expired before now, a batch at a time.
func (s *IdempotencyStore) Purge(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.db.run(ctx, "purge idempotency keys", func(ctx context.Context) error {
			res, err := s.db.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE expires_at < ? LIMIT ?", now, purgeBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil || n < purgeBatch {
			return total, err
		}
	}
}
