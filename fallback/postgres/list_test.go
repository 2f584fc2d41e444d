package postgres_test

import (
	"slices"
	"testing"

	"github.com/scoped-go/scoped"
)

// Prefixes that PostgreSQL's text cannot hold, or whose end is not the
// last byte incremented, list exactly the names that begin with them: a
// prefix cut inside a character, one with a byte that no UTF-8 holds or a
// NUL, and prefixes ending in U+D7FF (before the surrogates) or U+10FFFF
// (the last code point).
func TestListPrefixEnds(t *testing.T) {
	s, _, _ := newStore(t)
	names := []string{"ü:1", "u:1", "v", "a\uD7FF", "a\uD7FFb", "a\uE000", "\U0010FFFF", "\U0010FFFFx", "\U0010FFFE"}
	for _, name := range names {
		mustSet(t, s, name, scoped.Revision{}, []byte("x"))
	}
	for prefix, want := range map[string][]string{
		"\xc3":       {"ü:1"},
		"\xc3\xbc:":  {"ü:1"},
		"u\xff":      nil,
		"u\x00":      nil,
		"a\uD7FF":    {"a\uD7FF", "a\uD7FFb"},
		"\U0010FFFF": {"\U0010FFFF", "\U0010FFFFx"},
		"":           names,
	} {
		var got []string
		for name, err := range s.List(t.Context(), prefix) {
			if err != nil {
				t.Fatalf("List(%q): %v", prefix, err)
			}
			got = append(got, name)
		}
		slices.Sort(got)
		if want := slices.Sorted(slices.Values(want)); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
}
