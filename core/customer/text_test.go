package customer

import (
	"slices"
	"testing"

	"github.com/b2borders/platform/core/errs"
)

func invalidFields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	e, ok := err.(*errs.Error)
	if !ok || e.Code != errs.Invalid {
		t.Fatalf("error %v, want a validation failure", err)
	}
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestTextIsValidUTF8WithoutControlCharacters(t *testing.T) {
	for _, bad := range []string{"\x00", "a\x01b", "tab\there", "line\nbreak", "del\x7f", "c1\u0085x", "\xff", "a\xc3", "\xed\xa0\x80"} {
		f := Fields{Name: "N" + bad, Email: "e" + bad + "@example.com", Phone: "1" + bad}
		if got := invalidFields(t, f.Validate()); !slices.Equal(got, []string{"name", "email", "phone"}) {
			t.Errorf("%q: fields %v, want [name email phone]", bad, got)
		}
		name := "N" + bad
		if got := invalidFields(t, (Patch{Name: &name}).Validate()); !slices.Equal(got, []string{"name"}) {
			t.Errorf("patch %q: fields %v, want [name]", bad, got)
		}
	}
	if err := (Fields{Name: "José Müller", Email: "josé@x.example", Phone: "+49 (0) 30 1234"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateSeesWhatCreateStores(t *testing.T) {
	// Trimmed and lower-cased first, as Create does.
	if err := (Fields{Name: "  ACME ", Email: " Ops@ACME.example "}).Validate(); err != nil {
		t.Fatal(err)
	}
	if got := invalidFields(t, (Fields{Name: "   ", Email: "ops@acme.example"}).Validate()); !slices.Equal(got, []string{"name"}) {
		t.Fatalf("fields %v, want [name]", got)
	}
	if got := invalidFields(t, (Patch{}).Validate()); !slices.Equal(got, []string{"body"}) {
		t.Fatalf("empty patch: fields %v, want [body]", got)
	}
}
