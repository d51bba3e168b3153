package mysql

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-migrate/migrate/v4/database"
)

func TestSchemaLockName(t *testing.T) {
	if got := schemaLockName("orders_db"); got != "schema:orders_db" {
		t.Errorf("schemaLockName(orders_db) = %q", got)
	}
	// Database names run to 64 characters; lock names may not pass 64.
	a, b := strings.Repeat("a", 64), strings.Repeat("a", 63)+"b"
	la, lb := schemaLockName(a), schemaLockName(b)
	if len(la) > 64 || len(lb) > 64 || la == lb {
		t.Errorf("long names: %q and %q; want distinct names of at most 64 characters", la, lb)
	}
}

// TestSchemaConflict: what another node's replica applying the schema at
// the same time can cause is run again; a step's own failure is not.
func TestSchemaConflict(t *testing.T) {
	dup := &mysql.MySQLError{Number: errDuplicate, Message: "Duplicate entry '3' for key 'PRIMARY'"}
	rollback := errors.New("rollback failed")
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"duplicate version row", fmt.Errorf("apply: %w", &database.Error{OrigErr: errors.Join(dup, rollback),
			Query: []byte("INSERT INTO `schema_migrations` (version, dirty) VALUES (?, ?)")}), true},
		{"certification failure", &database.Error{OrigErr: &mysql.MySQLError{Number: errDeadlock}}, true},
		{"node not ready", &database.Error{OrigErr: &mysql.MySQLError{Number: errNodeNotReady}}, true},
		{"a step's duplicate", fmt.Errorf("apply: %w", &database.Error{OrigErr: dup,
			Query: []byte("ALTER TABLE products ADD UNIQUE KEY uq (sku)")}), false},
		{"a step's syntax error", &database.Error{OrigErr: &mysql.MySQLError{Number: 1064}}, false},
	} {
		if got := schemaConflict(c.err); got != c.want {
			t.Errorf("%s: schemaConflict = %v, want %v", c.name, got, c.want)
		}
	}
}
