package idempotency

import (
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	for key, want := range map[string]bool{
		"checkout-77":                  true,
		"a b":                          true,
		"~":                            true,
		strings.Repeat("k", 255):       true,
		"":                             false,
		strings.Repeat("k", 256):       false,
		" checkout-77 ":                false,
		" checkout-77":                 false,
		"checkout-77 ":                 false,
		" ":                            false,
		"\tcheckout-77":                false,
		"checkout\n77":                 false,
		"checkout\x7f":                 false,
		"clé":                          false,
		"checkout-77\x00":              false,
		strings.Repeat("k", 254) + " ": false,
	} {
		if got := ValidKey(key); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", key, got, want)
		}
	}
}
