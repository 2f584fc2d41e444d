package file

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scoped-go/scoped"
)

// Every valid name has a file base of plain ASCII letters, digits, '-', '_',
// '%' and '+' (so never a path separator, ".", ".." or a NUL byte), of at
// most maxEncodedName bytes, from which nameOfBase gives the name back
// unless it is a digest; two distinct names have bases that differ even
// without regard to case. Invalid names do not panic it.
func FuzzFileBase(f *testing.F) {
	for _, name := range []string{
		"a", "A", "%41", "a/b", "..", ".", "+", "straße", "e\u0301",
		strings.Repeat("a", maxEncodedName), strings.Repeat("a", maxEncodedName+1),
		strings.Repeat("/", 66), strings.Repeat("/", 67), "\x00", "\xff",
	} {
		f.Add(name, strings.ToUpper(name))
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		base := fileBase(a)
		if scoped.ValidateName(a) != nil {
			return
		}
		if base == "" || len(base) > maxEncodedName || strings.Trim(base, "abcdefghijklmnopqrstuvwxyz0123456789-_%+ABCDEF") != "" {
			t.Fatalf("name %q has the file base %q", a, base)
		}
		name, ok := nameOfBase(base)
		if digest := strings.HasPrefix(base, "+"); ok == digest || ok && name != a {
			t.Fatalf("name %q has the file base %q, which nameOfBase reads as %q, %v", a, base, name, ok)
		}
		if scoped.ValidateName(b) == nil && a != b && strings.EqualFold(base, fileBase(b)) {
			t.Fatalf("names %q and %q have the file bases %q and %q", a, b, base, fileBase(b))
		}
	})
}

// Whatever the file name, nameOfBase does not panic, and a name it gives is
// valid and has that file base.
func FuzzNameOfBase(f *testing.F) {
	for _, base := range []string{
		"a", "%41", "%4", "%", "%%", "%zz", "%2e", "%2E", "%2E%2E", "%00", "%FF", "%C3%A9",
		"A", "a.rec", ".", "..", "+" + strings.Repeat("0", 64), fileBase(strings.Repeat("x", 300)),
	} {
		f.Add(base)
	}
	f.Fuzz(func(t *testing.T, base string) {
		name, ok := nameOfBase(base)
		if !ok {
			return
		}
		if err := scoped.ValidateName(name); err != nil || !utf8.ValidString(name) || fileBase(name) != base {
			t.Fatalf("file base %q reads as the name %q (%v), whose file base is %q", base, name, err, fileBase(name))
		}
	})
}
