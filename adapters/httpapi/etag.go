package httpapi

import "strings"

// entityTag is one entity tag of a conditional header (RFC 9110 §8.8.3):
// its opaque part, quotes included, and whether it is weak.
type entityTag struct {
	opaque string
	weak   bool
}

// strongMatch compares t with the current tag strongly (RFC 9110 §8.8.3.2):
// neither may be weak, and the opaque tags must be the same characters.
func (t entityTag) strongMatch(current string) bool {
	return !t.weak && !strings.HasPrefix(current, "W/") && t.opaque == current
}

// weakMatch compares t with the current tag weakly: the opaque tags must be
// the same characters, weak or not.
func (t entityTag) weakMatch(current string) bool {
	return t.opaque == strings.TrimPrefix(current, "W/")
}

// parseConditional reads the lines of an If-Match or If-None-Match field:
// "*" (any is true), or a list of entity tags. ok is false for a value of
// neither form, which matches nothing.
func parseConditional(lines []string) (tags []entityTag, any, ok bool) {
	v := strings.Join(lines, ",")
	if strings.Trim(v, " \t") == "*" {
		return nil, true, true
	}
	for {
		v = strings.TrimLeft(v, " \t")
		if v == "" {
			break
		}
		if v[0] == ',' {
			v = v[1:]
			continue
		}
		var t entityTag
		if strings.HasPrefix(v, "W/") {
			t.weak, v = true, v[2:]
		}
		if v == "" || v[0] != '"' {
			return nil, false, false
		}
		end := 1
		for ; end < len(v) && v[end] != '"'; end++ {
			// etagc is %x21 / %x23-7E / obs-text.
			if c := v[end]; c < 0x21 || c == 0x7f {
				return nil, false, false
			}
		}
		if end == len(v) {
			return nil, false, false
		}
		t.opaque, v = v[:end+1], strings.TrimLeft(v[end+1:], " \t")
		if v != "" && v[0] != ',' {
			return nil, false, false
		}
		tags = append(tags, t)
	}
	return tags, false, len(tags) > 0
}
