package mysql

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/google/uuid"

	"github.com/b2borders/platform/core/events"
)

// EventStore reads the outbox the other stores write: the feed, in commit
// order, and the dispatchers' claims.
//
// Commit order. A row's id, or an AUTO_INCREMENT, is given before its
// transaction commits, and transactions commit in any order: a reader
// paging by such a key could pass a row that commits later with a lower
// key, and never see it. So the feed pages by position, which a publisher
// gives only to committed rows, in batches, under the lock of the one
// outbox_head row, held until the batch commits: a batch's positions are
// all above the head it read, and a later batch waits for this one to
// commit before it reads the head. So a position is visible only once every
// lower one is, and a reader that has seen position p has seen everything
// up to p. Every replica runs a publisher; they take turns on the head row
// (SKIP LOCKED: one that finds it taken leaves the work to the holder).
//
// Within a batch, rows are ordered by id (their creation time), and each
// resource's rows by seq; a resource's event is committed only after the one
// before it (its row lock orders them), so it is never published before it.
type EventStore struct {
	db *DB
	// headReady is set once the head row is known to exist.
	headReady bool
}

var (
	_ events.Feed     = (*EventStore)(nil)
	_ events.Dispatch = (*EventStore)(nil)
)

// NewEventStore returns a store over db.
func NewEventStore(db *DB) *EventStore {
	return &EventStore{db: db}
}

// publishBatch bounds the events one publication gives positions to.
const publishBatch = 500

type unpublished struct {
	id       uuid.UUID
	resource string // type and id
	seq      int64
}

// Publish gives positions to committed events that have none; see
// EventStore. It is not safe for concurrent use by one EventStore (each
// replica runs one publisher).
//
// The transaction locks the head row first, and only then reads the
// unpublished events, with a plain read: its snapshot is taken after the
// lock, so it sees as published everything an earlier holder published,
// and the UPDATE that gives positions can select the rows by primary key
// alone. A condition on position there could make InnoDB walk the position
// index and lock the gap where every new event's NULL entry goes, stalling
// the placements until the publication commits.
func (s *EventStore) Publish(ctx context.Context) (int, error) {
	if !s.headReady {
		err := s.db.run(ctx, "create outbox head", func(ctx context.Context) error {
			_, err := s.db.ExecContext(ctx, `INSERT IGNORE INTO outbox_head (id, position) VALUES (1, 0)`)
			return err
		})
		if err != nil {
			return 0, err
		}
		s.headReady = true
	}
	published := 0
	err := s.db.tx(ctx, "publish events", func(ctx context.Context, tx *sql.Tx) error {
		published = 0
		var head int64
		err := tx.QueryRowContext(ctx, `SELECT position FROM outbox_head WHERE id = 1 FOR UPDATE SKIP LOCKED`).Scan(&head)
		if err == sql.ErrNoRows {
			return nil // another replica is publishing
		}
		if err != nil {
			return err
		}
		batch, err := unpublishedEvents(ctx, tx)
		if err != nil || len(batch) == 0 {
			return err
		}
		var q strings.Builder
		args := make([]any, 0, 3*len(batch))
		q.WriteString(`UPDATE outbox SET position = CASE id`)
		for i, e := range batch {
			q.WriteString(` WHEN ? THEN ?`)
			args = append(args, e.id[:], head+int64(i)+1)
		}
		q.WriteString(` END WHERE id IN (` + placeholders(len(batch)) + `)`)
		for _, e := range batch {
			args = append(args, e.id[:])
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE outbox_head SET position = ? WHERE id = 1`, head+int64(len(batch)))
		published = len(batch)
		return err
	})
	return published, err
}

// unpublishedEvents reads, without locks, the oldest committed events
// that have no position, ordered for publication: by id, and within a
// resource by seq. When the read is cut by its limit, a resource with an
// older unpublished event beyond the cut is left out, so that its events
// are never published out of their order.
func unpublishedEvents(ctx context.Context, tx *sql.Tx) ([]unpublished, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT id, resource_type, resource_id, seq FROM outbox WHERE position IS NULL ORDER BY id LIMIT ?`, publishBatch)
	if err != nil {
		return nil, err
	}
	var batch []unpublished
	for rows.Next() {
		var e unpublished
		var rtype string
		var rid uuid.UUID
		if err := rows.Scan(&e.id, &rtype, &rid, &e.seq); err != nil {
			rows.Close()
			return nil, err
		}
		e.resource = rtype + "/" + rid.String()
		batch = append(batch, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(batch) == publishBatch {
		if batch, err = withoutGaps(ctx, tx, batch); err != nil {
			return nil, err
		}
	}
	// Each resource's events take the batch's places of that resource, in
	// seq order.
	slots := map[string][]int{}
	for i, e := range batch {
		slots[e.resource] = append(slots[e.resource], i)
	}
	out := slices.Clone(batch)
	for _, idx := range slots {
		evs := make([]unpublished, len(idx))
		for j, i := range idx {
			evs[j] = batch[i]
		}
		slices.SortFunc(evs, func(a, b unpublished) int { return cmp.Compare(a.seq, b.seq) })
		for j, i := range idx {
			out[i] = evs[j]
		}
	}
	return out, nil
}

// withoutGaps drops from a batch cut by its limit the resources that have
// an unpublished event older (in seq) than the batch's first of theirs.
func withoutGaps(ctx context.Context, tx *sql.Tx, batch []unpublished) ([]unpublished, error) {
	first := map[string]int64{}
	var ids []any
	for _, e := range batch {
		if f, ok := first[e.resource]; !ok || e.seq < f {
			if !ok {
				_, rid, _ := strings.Cut(e.resource, "/")
				id := uuid.MustParse(rid)
				ids = append(ids, id[:])
			}
			first[e.resource] = e.seq
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT resource_type, resource_id, MIN(seq) FROM outbox
		WHERE position IS NULL AND resource_id IN (`+placeholders(len(ids))+`) GROUP BY resource_type, resource_id`, ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	blocked := map[string]bool{}
	for rows.Next() {
		var rtype string
		var rid uuid.UUID
		var low int64
		if err := rows.Scan(&rtype, &rid, &low); err != nil {
			return nil, err
		}
		if r := rtype + "/" + rid.String(); low < first[r] {
			blocked[r] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(batch, func(e unpublished) bool { return blocked[e.resource] }), nil
}

const outboxColumns = "id, type, resource_type, resource_id, seq, payload, occurred_at, position, delivery, attempts, last_error, delivered_at"

// scanOutbox reads a row of outboxColumns, and into more the columns that
// follow them.
func scanOutbox(row interface{ Scan(...any) error }, more ...any) (events.Published, error) {
	var e events.Published
	var typ, rtype, status string
	var position sql.NullInt64
	var lastError sql.NullString
	var delivered sql.NullTime
	err := row.Scan(append([]any{&e.ID, &typ, &rtype, &e.Resource.ID, &e.Seq, &e.Payload, &e.OccurredAt, &position,
		&status, &e.Delivery.Attempts, &lastError, &delivered}, more...)...)
	e.Type, e.Resource.Type, e.Position = events.Type(typ), events.ResourceType(rtype), position.Int64
	e.Delivery.Status, e.Delivery.LastError, e.Delivery.DeliveredAt = events.Status(status), lastError.String, nullTime(delivered)
	return e, err
}

// Events returns the published events after q.After, in position order.
func (s *EventStore) Events(ctx context.Context, q events.FeedQuery) (events.FeedPage, error) {
	b := sq.Select(outboxColumns).From("outbox").Where(sq.Gt{"position": q.After}).OrderBy("position").Limit(uint64(q.Limit) + 1)
	if len(q.Types) > 0 {
		types := make([]string, len(q.Types))
		for i, t := range q.Types {
			types[i] = string(t)
		}
		b = b.Where(sq.Eq{"type": types})
	}
	query, args, err := b.ToSql()
	if err != nil {
		return events.FeedPage{}, err
	}
	p := events.FeedPage{Next: q.After}
	err = s.db.run(ctx, "read events", func(ctx context.Context) error {
		p.Events = p.Events[:0]
		rows, err := s.db.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanOutbox(rows)
			if err != nil {
				return err
			}
			p.Events = append(p.Events, e)
		}
		return rows.Err()
	})
	if err != nil {
		return events.FeedPage{}, err
	}
	if len(p.Events) > q.Limit {
		p.Events, p.HasMore = p.Events[:q.Limit], true
	}
	if n := len(p.Events); n > 0 {
		p.Next = p.Events[n-1].Position
	}
	if p.Events == nil {
		p.Events = []events.Published{}
	}
	return p, nil
}

// Claim leases the due, unclaimed events that are the oldest pending one of
// their resource. Candidates are read without locks, each only if its
// resource has no older event pending (in backoff, claimed, or not yet
// published): a resource only gains events with higher seqs, and an event
// leaves pending for good, so a candidate found oldest stays so until it
// is delivered or failed, and a resource whose oldest event waits holds
// back no other resource's. Then one short transaction locks the
// candidates by primary key, skipping any another dispatcher is claiming
// at that moment (SKIP LOCKED), checks them again as they are committed
// now, and marks them claimed until now+lease, counting the attempt. Two
// dispatchers on one event: one locks it, the other skips it or, once the
// first committed, finds it claimed.
func (s *EventStore) Claim(ctx context.Context, now time.Time, n int, lease time.Duration) ([]events.Claim, error) {
	var ids []any
	err := s.db.run(ctx, "find due events", func(ctx context.Context) error {
		ids = ids[:0]
		rows, err := s.db.QueryContext(ctx, `SELECT id FROM outbox o
			WHERE delivery = 'pending' AND position IS NOT NULL
			  AND (next_attempt_at IS NULL OR next_attempt_at <= ?) AND (claimed_until IS NULL OR claimed_until < ?)
			  AND NOT EXISTS (SELECT 1 FROM outbox older WHERE older.resource_type = o.resource_type
			    AND older.resource_id = o.resource_id AND older.seq < o.seq AND older.delivery = 'pending')
			ORDER BY position LIMIT ?`, now, now, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id []byte
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	until := now.Add(lease)
	var claims []events.Claim
	err = s.db.tx(ctx, "claim events", func(ctx context.Context, tx *sql.Tx) error {
		claims = claims[:0]
		// By primary key alone, so that only these rows are locked; the
		// conditions are checked on what the locking read returns, the
		// rows as they are committed now.
		rows, err := tx.QueryContext(ctx, `SELECT `+outboxColumns+`, next_attempt_at, claimed_until FROM outbox
			WHERE id IN (`+placeholders(len(ids))+`) ORDER BY id FOR UPDATE SKIP LOCKED`, ids...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var next, claimed sql.NullTime
			e, err := scanOutbox(rows, &next, &claimed)
			if err != nil {
				rows.Close()
				return err
			}
			if e.Delivery.Status != events.Pending || (next.Valid && next.Time.After(now)) || (claimed.Valid && !claimed.Time.Before(now)) {
				continue
			}
			claims = append(claims, events.Claim{Published: e, Attempt: e.Delivery.Attempts + 1, Until: until})
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(claims) == 0 {
			return err
		}
		got := make([]any, 0, len(claims)+1)
		got = append(got, until)
		for _, c := range claims {
			got = append(got, c.ID[:])
		}
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, claimed_until = ? WHERE id IN (`+placeholders(len(claims))+`)`, got...)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i := range claims {
		claims[i].Delivery.Attempts = claims[i].Attempt
	}
	return claims, nil
}

// mark records the outcome of claim c's attempt, unless the event was
// claimed again since (its attempts moved on) or is no longer pending.
func (s *EventStore) mark(ctx context.Context, op string, c events.Claim, set string, args ...any) error {
	return s.db.run(ctx, op, func(ctx context.Context) error {
		_, err := s.db.ExecContext(ctx, `UPDATE outbox SET `+set+`, claimed_until = NULL
			WHERE id = ? AND attempts = ? AND delivery = 'pending'`, append(args, c.ID[:], c.Attempt)...)
		return err
	})
}

// Delivered marks c's event delivered.
func (s *EventStore) Delivered(ctx context.Context, c events.Claim, at time.Time) error {
	return s.mark(ctx, "mark event delivered", c, `delivery = 'delivered', delivered_at = ?, last_error = NULL`, at)
}

// Retry makes c's event due again at next.
func (s *EventStore) Retry(ctx context.Context, c events.Claim, next time.Time, reason string) error {
	return s.mark(ctx, "mark event for retry", c, `next_attempt_at = ?, last_error = ?`, next, reason)
}

// Fail marks c's event failed.
func (s *EventStore) Fail(ctx context.Context, c events.Claim, reason string) error {
	return s.mark(ctx, "mark event failed", c, `delivery = 'failed', last_error = ?`, reason)
}

// OldestPending returns when the published event first in the feed among
// those not delivered or failed occurred.
func (s *EventStore) OldestPending(ctx context.Context) (time.Time, bool, error) {
	var at time.Time
	found := false
	err := s.db.run(ctx, "read oldest pending event", func(ctx context.Context) error {
		err := s.db.QueryRowContext(ctx, `SELECT occurred_at FROM outbox
			WHERE delivery = 'pending' AND position IS NOT NULL ORDER BY position LIMIT 1`).Scan(&at)
		if err == sql.ErrNoRows {
			return nil
		}
		found = err == nil
		return err
	})
	return at, found, err
}

// Purge deletes the events made before cutoff, a batch at a time, by
// primary key: their ids are UUIDv7, which begin with their creation time
// in milliseconds. The batch is read first and deleted by id, so the
// delete locks those rows only, never a range that new events go into.
func (s *EventStore) Purge(ctx context.Context, cutoff time.Time) (int64, error) {
	var bound uuid.UUID
	binary.BigEndian.PutUint64(bound[:8], uint64(cutoff.UnixMilli())<<16)
	var total int64
	for {
		var n int64
		err := s.db.run(ctx, "purge events", func(ctx context.Context) error {
			rows, err := s.db.QueryContext(ctx, `SELECT id FROM outbox WHERE id < ? ORDER BY id LIMIT ?`, bound[:], purgeBatch)
			if err != nil {
				return err
			}
			var ids []any
			for rows.Next() {
				var id []byte
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil || len(ids) == 0 {
				n = 0
				return err
			}
			res, err := s.db.ExecContext(ctx, `DELETE FROM outbox WHERE id IN (`+placeholders(len(ids))+`)`, ids...)
			if err != nil {
				return err
			}
			// Another replica may have deleted some of them first.
			n, err = res.RowsAffected()
			if err == nil && len(ids) == purgeBatch {
				n = purgeBatch
			}
			return err
		})
		total += n
		if err != nil || n < purgeBatch {
			return total, err
		}
	}
}
