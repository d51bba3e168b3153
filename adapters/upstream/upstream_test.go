package upstream

import "testing"

func TestTemplateHidesIDs(t *testing.T) {
	for path, want := range map[string]string{
		"/orders": "/orders",
		"/orders/0192f3a0-7c1a-7d2e-8b3c-4d5e6f700001/confirm":     "/orders/{id}/confirm",
		"/internal/customers/0192f3a0-7c1a-7d2e-8b3c-4d5e6f700001": "/internal/customers/{id}",
		"/products/not-a-uuid": "/products/not-a-uuid",
	} {
		if got := Template(path); got != want {
			t.Errorf("Template(%q) = %q, want %q", path, got, want)
		}
	}
}
