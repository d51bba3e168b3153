package dbtest_test

import (
	"slices"
	"testing"

	"github.com/b2borders/platform/testsuite/dbtest"
)

func TestReplicasShareTheServerWithoutNodes(t *testing.T) {
	t.Setenv(dbtest.EnvNodes, "")
	dsn := "u:p@tcp(127.0.0.1:3306)/db"
	for i := range 4 {
		if got := dbtest.ReplicaDSN(t, dsn, i); got != dsn {
			t.Fatalf("replica %d: %s, want %s", i, got, dsn)
		}
	}
}

func TestNodesAreListedWithTheirPorts(t *testing.T) {
	t.Setenv(dbtest.EnvNodes, " 127.0.0.1:3312, ,db2 ")
	if got, want := dbtest.Nodes(), []string{"127.0.0.1:3312", "db2:3306"}; !slices.Equal(got, want) {
		t.Fatalf("Nodes() = %v, want %v", got, want)
	}
}
