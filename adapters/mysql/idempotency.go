package mysql

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/b2borders/platform/core/errs"
	"github.com/b2borders/platform/core/idempotency"
)

// A key row is written inside the transaction of the command it guards, as
// that transaction's first statement. Until the transaction ends, the row
// is invisible and its primary key entry is locked: a concurrent attempt
// with the same key blocks on its own insert, and when the first commits it
// fails with a duplicate key and replays what the first stored. If the
// first rolls back, the second's insert simply succeeds. No key is ever
// left behind by a command that did not happen, so there is nothing to
// clean up after a crash.

// Key row statuses. A key row is only ever seen committed, so readers see
// keyCompleted; keyInProgress marks a row whose response is still being
// produced inside its transaction.
const (
	keyInProgress = "IN_PROGRESS"
	keyCompleted  = "COMPLETED"
)

// errKeyTaken stands for a transaction whose key insert found the key
// already used; the caller rolls back and settles the claim outside.
var errKeyTaken = errors.New("idempotency key already used")

// insertKeySQL claims a key; keyArgs are its parameters.
const insertKeySQL = "INSERT INTO idempotency_keys (target_type, `key`, target_id, status, request_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"

func keyArgs(c idempotency.Claim, target uuid.UUID, status string, now time.Time) []any {
	return []any{string(c.Scope), []byte(c.Key), target[:], status, c.Fingerprint, now, c.ExpiresAt}
}

// completeKeySQL stores the response of the command a key guards, in the
// same transaction that inserted the key; completeKeyArgs are its
// parameters.
const completeKeySQL = "UPDATE idempotency_keys SET status = ?, response_status = ?, response_body = ? WHERE target_type = ? AND `key` = ?"

func completeKeyArgs(c idempotency.Claim, status int, body []byte) []any {
	return []any{keyCompleted, status, body, string(c.Scope), []byte(c.Key)}
}

// storedKey is a committed key row.
type storedKey struct {
	TargetID    uuid.UUID
	Status      string
	RequestHash string
	Body        []byte
	ExpiresAt   time.Time
}

// settleKey decides what an attempt whose key insert hit a duplicate gets.
// retry means the key is free again (it had expired and is now deleted, or
// it vanished meanwhile) and the command should run again from the start;
// otherwise the stored key is returned for the caller to replay.
func settleKey(ctx context.Context, db *sql.DB, c idempotency.Claim, now time.Time) (k storedKey, retry bool, err error) {
	var body []byte
	err = db.QueryRowContext(ctx,
		"SELECT target_id, status, request_hash, response_body, expires_at FROM idempotency_keys WHERE target_type = ? AND `key` = ?",
		string(c.Scope), []byte(c.Key)).Scan(&k.TargetID, &k.Status, &k.RequestHash, &body, &k.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return k, true, nil
	}
	if err != nil {
		return k, false, err
	}
	k.Body = body
	if !k.ExpiresAt.After(now) {
		// Conditional on still being expired, so a fresh key another
		// attempt wrote meanwhile survives.
		_, err := db.ExecContext(ctx,
			"DELETE FROM idempotency_keys WHERE target_type = ? AND `key` = ? AND expires_at <= ?",
			string(c.Scope), []byte(c.Key), now)
		return k, err == nil, err
	}
	if k.RequestHash != c.Fingerprint {
		return k, false, errs.New(errs.IdempotencyKeyReused,
			"idempotency key %q was used with a different request", c.Key)
	}
	if k.Status != keyCompleted {
		return k, false, errs.New(errs.IdempotencyKeyInProgress,
			"a request with idempotency key %q is still in progress", c.Key)
	}
	return k, false, nil
}

// IdempotencyStore forgets expired keys of orders_db.
type IdempotencyStore struct {
	db *sql.DB
}

var _ idempotency.Purger = (*IdempotencyStore)(nil)

// NewIdempotencyStore returns a store over db.
func NewIdempotencyStore(db *sql.DB) *IdempotencyStore {
	return &IdempotencyStore{db: db}
}

// purgeBatch bounds one delete, so purging a backlog never holds many row
// locks or a long transaction against the commands writing keys.
const purgeBatch = 1000

// Purge deletes the keys that expired before now, a batch at a time.
func (s *IdempotencyStore) Purge(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE expires_at < ? LIMIT ?", now, purgeBatch)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < purgeBatch {
			return total, nil
		}
	}
}
