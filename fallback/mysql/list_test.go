package mysql_test

import (
	"slices"
	"testing"

	"github.com/scoped-go/scoped"
)

// A prefix whose end, its last byte incremented, is not valid UTF-8 (after
// U+007F, or the last code point) still bounds the range exactly: the
// server compares the bound as bytes.
func TestListPrefixEnds(t *testing.T) {
	s, _, _ := newStore(t)
	names := []string{"a\u007f", "a\u007fb", "a\u0080", "b", "\U0010FFFF", "\U0010FFFFx", "\U0010FFFE"}
	for _, name := range names {
		if _, ok, err := s.CompareAndSet(t.Context(), name, scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); err != nil || !ok {
			t.Fatalf("CompareAndSet(%q) = %v, %v", name, ok, err)
		}
	}
	for prefix, want := range map[string][]string{
		"a\u007f":    {"a\u007f", "a\u007fb"},
		"\U0010FFFF": {"\U0010FFFF", "\U0010FFFFx"},
		"":           slices.Sorted(slices.Values(names)),
	} {
		var got []string
		for name, err := range s.List(t.Context(), prefix) {
			if err != nil {
				t.Fatalf("List(%q): %v", prefix, err)
			}
			got = append(got, name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
}
