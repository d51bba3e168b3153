package mysql

import (
	"context"
	"database/sql"

	sq "github.com/Masterminds/squirrel"

	"github.com/b2borders/platform/core/page"
)

// afterCursor restricts b to rows older than the cursor in the
// (created_at DESC, id DESC) order every list uses, and applies that order.
// The expanded comparison, rather than a row constructor, is the form both
// MySQL and MariaDB turn into an index range.
func afterCursor(b sq.SelectBuilder, after *page.Cursor) sq.SelectBuilder {
	if after != nil {
		b = b.Where(sq.Or{
			sq.Lt{"created_at": after.Created},
			sq.And{sq.Eq{"created_at": after.Created}, sq.Lt{"id": after.ID[:]}},
		})
	}
	return b.OrderBy("created_at DESC", "id DESC")
}

// queryPage runs b for one page plus one row, so the caller can tell
// whether another page follows without a second query.
func queryPage[T any](ctx context.Context, db *sql.DB, b sq.SelectBuilder, limit int, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	query, args, err := b.Limit(uint64(limit) + 1).ToSql()
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]T, 0, limit+1)
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
