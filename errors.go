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

	// ErrNotColocated is matched by the error of a Transact over scopes
	// that its store cannot commit in one atomic operation: on Redis
	// Cluster, names whose keys fall in different hash slots (give them a
	// common hash tag, as in "{user42}:cart" and "{user42}:wallet").
	// Nothing is written.
	ErrNotColocated = errors.New("scoped: scopes cannot be committed together")

	// ErrNotInTransaction is returned by Tx.Scope and TxValue for a name
	// the Transact call did not name.
	ErrNotInTransaction = errors.New("scoped: scope not named by the transaction")
)

// Errors while running a handler: the handler's changes are discarded.
var (
	// ErrCorruptValue is matched by a *CorruptValueError: the stored bytes
	// are not valid msgpack, or do not decode into the requested type. The
	// stored value is left as it is.
	ErrCorruptValue = errors.New("scoped: stored value cannot be decoded")

	// ErrUnknownField is matched by an *UnknownFieldError: the stored value
	// has fields that Update's type does not hold, which writing it back
	// would drop. The stored value is left as it is.
	ErrUnknownField = errors.New("scoped: stored value has fields the type does not hold")

	// ErrReadOnly is returned by Scope.Set and Scope.Delete inside View.
	ErrReadOnly = errors.New("scoped: scope is read-only in View")
)

// Errors while committing. An error other than ErrCommitUnknown means that
// nothing of the call was written, and never will be.
var (
	// ErrTooManyConflicts is matched by a *ConflictError: other writers
	// committed first on every attempt, up to the engine's attempt limit.
	// Nothing of the call was written.
	ErrTooManyConflicts = errors.New("scoped: too many conflicting writers")

	// ErrNotApplied is matched by the error of a call whose change was
	// certainly not written, because the store could not be reached, refused
	// the write without performing it, or the call's context ended before
	// the write was sent. The call may be made again safely. A Store marks
	// such failures with NotApplied; see Store.
	ErrNotApplied = errors.New("scoped: change not applied")

	// ErrCommitUnknown is matched by a *CommitUnknownError: a write was sent
	// but its outcome could not be learned. The change may or may not have
	// been written. It never matches context.Canceled or
	// context.DeadlineExceeded, so that a caller that retries on timeouts
	// cannot apply a change twice without seeing that its outcome is
	// unknown.
	ErrCommitUnknown = errors.New("scoped: commit outcome unknown")

	// ErrClosed is returned by calls on an Engine after Close.
	ErrClosed = errors.New("scoped: engine is closed")
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

// CommitUnknownError reports a write whose outcome is unknown. It matches
// ErrCommitUnknown, and deliberately does not unwrap to its cause: see
// ErrCommitUnknown. Read the cause from the field.
type CommitUnknownError struct {
	Scope string // the scope written
	Cause error  // why the outcome is unknown: the write's error, or the context's
}

// Error names the scope and the cause.
func (e *CommitUnknownError) Error() string {
	return fmt.Sprintf("scoped: scope %q: commit outcome unknown: %v", truncate(e.Scope), e.Cause)
}

// Is reports whether target is ErrCommitUnknown.
func (e *CommitUnknownError) Is(target error) bool { return target == ErrCommitUnknown }

// UnknownFieldError reports an Update whose type T does not hold every field
// of the stored value: decoding into T would drop them, and writing T back
// would lose them. It matches ErrUnknownField. Nothing is written.
type UnknownFieldError struct {
	Scope string // the scope read
	Type  string // the Go type the value was decoded into
	Err   error  // what the decoder said, naming the field
}

// Error names the scope, the type and the field.
func (e *UnknownFieldError) Error() string {
	return fmt.Sprintf("scoped: scope %q: stored value has fields that %s does not hold: %v", truncate(e.Scope), e.Type, e.Err)
}

// Is reports whether target is ErrUnknownField.
func (e *UnknownFieldError) Is(target error) bool { return target == ErrUnknownField }

// Unwrap returns the decoder's error.
func (e *UnknownFieldError) Unwrap() error { return e.Err }

// PanicError is the value a call panics with when its handler panicked: the
// handler's own panic value, and the stack of the goroutine that ran the
// handler, captured where it panicked.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the handler's stack, as runtime/debug.Stack formats it
}

// Error gives the panic value and the handler's stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("scoped: handler panicked: %v\n\nhandler stack:\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

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

// notSent is the error of a call whose context ended before its change was
// sent: it matches the context's error and ErrNotApplied.
func notSent(name string, cause error) error {
	return fmt.Errorf("scoped: scope %q: not applied: %w", truncate(name), NotApplied(cause))
}

// loadError is the error of a call whose load failed.
func loadError(name string, err error) error {
	return fmt.Errorf("scoped: load scope %q: %w", truncate(name), err)
}

// writeError is the error of a call whose write failed, certainly not
// performed.
func writeError(name string, err error) error {
	return fmt.Errorf("scoped: write scope %q: %w", truncate(name), err)
}
