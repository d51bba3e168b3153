package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// errNotSynced is Ready's answer from a Galera node that is not a synced
// member of the cluster's primary component.
var errNotSynced = errors.New("the Galera node is not ready (wsrep_ready is not ON)")

// Ready reports whether the database can serve the stores: it answers, and,
// when it is a Galera node, the node is ready (wsrep_ready ON: a member of
// the primary component, not joining or cut off). A server without Galera
// has no wsrep_ready status; one that refuses to show its status (the
// embedded engine) is ready when it answers a ping.
func (db *DB) Ready(ctx context.Context) error {
	var name, value string
	err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'wsrep_ready'").Scan(&name, &value)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err == nil && value == "ON":
		return nil
	case err == nil:
		// A server with the Galera library loaded but wsrep_on OFF is a
		// standalone server, and ready.
		var on string
		if err := db.QueryRowContext(ctx, "SHOW GLOBAL VARIABLES LIKE 'wsrep_on'").Scan(&name, &on); err != nil {
			return err
		}
		if on == "OFF" {
			return nil
		}
		return errNotSynced
	case errNumber(err) == errNodeNotReady:
		return fmt.Errorf("%w: %w", errNotSynced, err)
	case errNumber(err) != 0:
		return db.PingContext(ctx)
	}
	return err
}
