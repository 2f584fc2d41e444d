package scoped

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Errors before any write: the call is refused and nothing is written.
var (
	// ErrInvalidName is matched by a *NameError: the scope name is empty,
	// too long, not valid UTF-8, or holds a NUL byte. Nothing is read.
	ErrInvalidName = errors.New("scoped: invalid scope name")

	// ErrValueTooLarge is matched by a *ValueTooLargeError: the encoded
	// value is over the engine's or the store's limit. Nothing is written.
	ErrValueTooLarge = errors.New("scoped: value too large")
)

// Errors while running a handler: the handler's changes are discarded.
var (
	// ErrCorruptValue is matched by a *CorruptValueError: the stored bytes
	// are not valid msgpack, or do not decode into the requested type. The
	// stored value is left as it is.
	ErrCorruptValue = errors.New("scoped: stored value cannot be decoded")

	// ErrReadOnly is returned by Scope.Set and Scope.Delete inside View.
	ErrReadOnly = errors.New("scoped: scope is read-only in View")
)

// Errors while committing.
var (
	// ErrTooManyConflicts is matched by a *ConflictError: other writers
	// committed first on every attempt, up to the engine's attempt limit.
	// Nothing of the call was written.
	ErrTooManyConflicts = errors.New("scoped: too many conflicting writers")

	// ErrCommitUnknown is returned, joined with its cause, when a commit was
	// sent but its outcome could not be learned: the connection failed or the
	// context ended while the write was in flight, and sending it again failed
	// too, or found that other writers had committed since. The change may or
	// may not have been written.
	ErrCommitUnknown = errors.New("scoped: commit outcome unknown")
)

// NameError reports an invalid scope name. It matches ErrInvalidName.
type NameError struct {
	Name   string // the rejected name, as given
	Reason string // why it was rejected
}

// Error describes the name and why it was refused.
func (e *NameError) Error() string {
	return fmt.Sprintf("scoped: invalid scope name %q: %s", truncate(e.Name), e.Reason)
}

// Is reports whether target is ErrInvalidName.
func (e *NameError) Is(target error) bool { return target == ErrInvalidName }

// ValueTooLargeError reports an encoded value over the size limit. It
// matches ErrValueTooLarge.
type ValueTooLargeError struct {
	Scope string // the scope being written
	Size  int    // encoded size in bytes
	Limit int    // the limit in bytes
}

// Error gives the scope, the size and the limit.
func (e *ValueTooLargeError) Error() string {
	return fmt.Sprintf("scoped: scope %q: encoded value is %d bytes, over the limit of %d", truncate(e.Scope), e.Size, e.Limit)
}

// Is reports whether target is ErrValueTooLarge.
func (e *ValueTooLargeError) Is(target error) bool { return target == ErrValueTooLarge }

// CorruptValueError reports a stored value that cannot be decoded. It
// matches ErrCorruptValue and unwraps to the decoder's error.
type CorruptValueError struct {
	Scope string // the scope whose value is corrupt
	Err   error  // what the decoder said
}

// Error names the scope and what the decoder said.
func (e *CorruptValueError) Error() string {
	return fmt.Sprintf("scoped: scope %q: stored value cannot be decoded: %v", truncate(e.Scope), e.Err)
}

// Is reports whether target is ErrCorruptValue.
func (e *CorruptValueError) Is(target error) bool { return target == ErrCorruptValue }

// Unwrap returns the decoder's error.
func (e *CorruptValueError) Unwrap() error { return e.Err }

// ConflictError reports a call that gave up after losing every attempt to
// other writers. It matches ErrTooManyConflicts.
type ConflictError struct {
	Scope    string // the contended scope
	Attempts int    // how many commits were tried
}

// Error names the scope and the attempts made.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("scoped: scope %q: gave up after %d conflicting attempts", truncate(e.Scope), e.Attempts)
}

// Is reports whether target is ErrTooManyConflicts.
func (e *ConflictError) Is(target error) bool { return target == ErrTooManyConflicts }

// truncate shortens a name for an error message, at a rune boundary.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
