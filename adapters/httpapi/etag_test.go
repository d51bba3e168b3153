package httpapi

import (
	"reflect"
	"testing"
)

func TestParseConditional(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		tags []entityTag
		any  bool
		ok   bool
	}{
		{[]string{"*"}, nil, true, true},
		{[]string{` * `}, nil, true, true},
		{[]string{`"5"`}, []entityTag{{`"5"`, false}}, false, true},
		{[]string{`W/"5"`}, []entityTag{{`"5"`, true}}, false, true},
		{[]string{`"1", W/"2" ,"3"`}, []entityTag{{`"1"`, false}, {`"2"`, true}, {`"3"`, false}}, false, true},
		{[]string{`"1"`, `"2"`}, []entityTag{{`"1"`, false}, {`"2"`, false}}, false, true},
		{[]string{`, "a,b" ,`}, []entityTag{{`"a,b"`, false}}, false, true},
		{[]string{`""`}, []entityTag{{`""`, false}}, false, true},
		// Malformed: no quotes, unterminated, junk after a tag, a star in a
		// list, a space or a quote inside, lower-case w/, nothing at all.
		{[]string{`5`}, nil, false, false},
		{[]string{`"5`}, nil, false, false},
		{[]string{`"5"x`}, nil, false, false},
		{[]string{`*, "5"`}, nil, false, false},
		{[]string{`"a b"`}, nil, false, false},
		{[]string{`w/"5"`}, nil, false, false},
		{[]string{` , `}, nil, false, false},
	} {
		tags, any, ok := parseConditional(tc.in)
		if !reflect.DeepEqual(tags, tc.tags) || any != tc.any || ok != tc.ok {
			t.Errorf("parseConditional(%q) = %v, %v, %v; want %v, %v, %v", tc.in, tags, any, ok, tc.tags, tc.any, tc.ok)
		}
	}
}

// Tags are compared as strings: a tag that spells the version another way
// is another tag.
func TestEntityTagsCompareAsStrings(t *testing.T) {
	for _, tc := range []struct {
		header string
		// version is the product's; ifMatch is the version a PATCH may
		// then be conditional on (0 for none), noneMatch whether a GET is
		// answered 304.
		version   int64
		ifMatch   int64
		noneMatch bool
	}{
		{`"5"`, 5, 5, true},
		{`"+5"`, 5, 0, false},
		{`"05"`, 5, 0, false},
		{`" 5"`, 5, 0, false},
		{`"5.0"`, 5, 0, false},
		{`"0x5"`, 5, 0, false},
		{`"06"`, 6, 0, false},
		{`W/"5"`, 5, 0, true},
		{`"4", "5"`, 5, 4, true},
		{`"abc"`, 5, 0, false},
		{`5`, 5, 0, false},
		{`"5`, 5, 0, false},
		{`"5" junk`, 5, 0, false},
	} {
		tags, _, _ := parseConditional([]string{tc.header})
		var got int64
		for _, tag := range tags {
			if n, ok := etagVersion(tag); ok {
				got = n
				break
			}
		}
		if got != tc.ifMatch {
			t.Errorf("If-Match %s names version %d, want %d", tc.header, got, tc.ifMatch)
		}
		if hit := noneMatchHits([]string{tc.header}, tc.version); hit != tc.noneMatch {
			t.Errorf("If-None-Match %s on version %d: hit %v, want %v", tc.header, tc.version, hit, tc.noneMatch)
		}
	}
	if !noneMatchHits([]string{"*"}, 3) {
		t.Error("If-None-Match * must hit any version")
	}
}
