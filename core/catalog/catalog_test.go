package catalog

import (
	"math"
	"slices"
	"testing"

	"github.com/b2borders/platform/core/errs"
)

// fieldsOf returns the fields a validation error names.
func fieldsOf(t *testing.T, err error) []string {
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

func ptr[T any](v T) *T { return &v }

func TestStockIsBounded(t *testing.T) {
	ok := NewProduct{SKU: "S-1", Name: "Bolt", PriceCents: 1, Stock: MaxStock}
	if err := ok.Validate(); err != nil {
		t.Fatalf("stock at the maximum: %v", err)
	}
	for _, stock := range []int64{-1, MaxStock + 1, math.MaxInt64, math.MinInt64} {
		n := ok
		n.Stock = stock
		if got := fieldsOf(t, n.Validate()); !slices.Equal(got, []string{"stock"}) {
			t.Errorf("stock %d: fields %v, want [stock]", stock, got)
		}
		if got := fieldsOf(t, (Patch{Stock: ptr(stock)}).Validate()); !slices.Equal(got, []string{"stock"}) {
			t.Errorf("patch stock %d: fields %v, want [stock]", stock, got)
		}
	}
	if err := (Patch{Stock: ptr(int64(MaxStock))}).Validate(); err != nil {
		t.Fatalf("patch to the maximum: %v", err)
	}
}

func TestTextIsValidUTF8WithoutControlCharacters(t *testing.T) {
	for _, bad := range []string{"\x00", "a\x01b", "tab\there", "line\nbreak", "del\x7f", "c1\u0085x", "\xff", "a\xc3", "\xed\xa0\x80"} {
		n := NewProduct{SKU: "S-" + bad, Name: "N" + bad, PriceCents: 1, Stock: 1}
		if got := fieldsOf(t, n.Validate()); !slices.Equal(got, []string{"sku", "name"}) {
			t.Errorf("%q: fields %v, want [sku name]", bad, got)
		}
		if got := fieldsOf(t, (Patch{Name: ptr("N" + bad)}).Validate()); !slices.Equal(got, []string{"name"}) {
			t.Errorf("patch %q: fields %v, want [name]", bad, got)
		}
	}
	for _, good := range []string{"Straße 5", "Café crème", "東京 №1", "emoji 🚚"} {
		if err := (NewProduct{SKU: good, Name: good, Stock: 1}).Validate(); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}
