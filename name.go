package scoped

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxNameLength is the longest scope name, in bytes.
const MaxNameLength = 512

// ValidateName returns a *NameError if name cannot name a scope: it must be
// non-empty valid UTF-8 of at most MaxNameLength bytes, with no NUL byte.
// Every other string is a valid name, including ones with spaces, slashes
// or "..": backends must store them as they are.
func ValidateName(name string) error {
	var reason string
	switch {
	case name == "":
		reason = "empty"
	case len(name) > MaxNameLength:
		reason = fmt.Sprintf("%d bytes, over the limit of %d", len(name), MaxNameLength)
	case !utf8.ValidString(name):
		reason = "not valid UTF-8"
	case strings.IndexByte(name, 0) >= 0:
		reason = "contains a NUL byte"
	default:
		return nil
	}
	return &NameError{Name: name, Reason: reason}
}
