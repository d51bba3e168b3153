package mysql

import (
	"strings"
	"testing"
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
