package customer

import (
	"strings"
	"testing"

	"github.com/b2borders/platform/core/errs"
)

func fieldsOf(err error) []string {
	e, ok := err.(*errs.Error)
	if !ok {
		return nil
	}
	var names []string
	for _, f := range e.Fields {
		names = append(names, f.Field)
	}
	return names
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Fields
		want string
	}{
		{"valid", Fields{Name: "ACME", Email: "ops@acme.com", Phone: "+1 (555) 010-0000"}, ""},
		{"valid without phone", Fields{Name: "ACME", Email: "ops@acme.com"}, ""},
		{"everything wrong at once", Fields{Name: "", Email: "nope", Phone: "call me"}, "name,email,phone"},
		{"name too long", Fields{Name: strings.Repeat("é", 101), Email: "a@b.co"}, "name"},
		{"name of 100 runes", Fields{Name: strings.Repeat("é", 100), Email: "a@b.co"}, ""},
		{"display name form", Fields{Name: "A", Email: "Ops <ops@acme.com>"}, "email"},
		{"no dot in domain", Fields{Name: "A", Email: "ops@localhost"}, "email"},
		{"email too long", Fields{Name: "A", Email: strings.Repeat("a", 250) + "@b.co"}, "email"},
		{"phone too long", Fields{Name: "A", Email: "a@b.co", Phone: strings.Repeat("1", 21)}, "phone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.normalize().Validate()
			if got := strings.Join(fieldsOf(err), ","); got != tc.want {
				t.Fatalf("invalid fields %q, want %q (%v)", got, tc.want, err)
			}
			if tc.want != "" && !errs.Is(err, errs.Invalid) {
				t.Fatalf("code %s", errs.CodeOf(err))
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	got := Fields{Name: "  ACME ", Email: " Ops@ACME.com ", Phone: " 555 "}.normalize()
	if got != (Fields{Name: "ACME", Email: "ops@acme.com", Phone: "555"}) {
		t.Fatalf("normalized to %+v", got)
	}
}
