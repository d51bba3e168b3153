package mysql

import "testing"

func TestSplitOpKeepsIDsOutOfTheKind(t *testing.T) {
	for op, want := range map[string][2]string{
		"place order 0192f3a0-7c1a-7d2e-8b3c-4d5e6f700001":     {"place order", "0192f3a0-7c1a-7d2e-8b3c-4d5e6f700001"},
		"update customer 0192f3a0-7c1a-7d2e-8b3c-4d5e6f700001": {"update customer", "0192f3a0-7c1a-7d2e-8b3c-4d5e6f700001"},
		"get product":          {"get product", ""},
		"read products' stock": {"read products' stock", ""},
	} {
		if kind, id := splitOp(op); kind != want[0] || id != want[1] {
			t.Errorf("splitOp(%q) = %q, %q; want %q, %q", op, kind, id, want[0], want[1])
		}
	}
}
