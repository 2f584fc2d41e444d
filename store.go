package scoped

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// Store is the contract every backend implements. Only the engine calls it:
// it moves opaque bytes and versions, and decides nothing.
//
// A scope that was never written has version 0 and no value. Every
// successful write (CompareAndSet or Delete) stores version expected+1, so a
// scope's version strictly increases over its whole life, across deletes and
// re-creations: a deleted scope keeps its version as a tombstone.
//
// Implementations must be safe for concurrent use. Each method should reach
// the backing server once (one round trip), so that one engine attempt costs
// one round trip; a backend that needs a second one for a refused write says
// so. When a write's reply is lost, the engine sends the very same write
// again (same expected version, value and writer) to learn its outcome.
type Store interface {
	// Load returns the current record of the scope. A scope that does not
	// exist is not an error: it is a Record with a nil Value.
	Load(ctx context.Context, name string) (Record, error)

	// CompareAndSet stores value as version expected+1, written by writer,
	// if and only if the stored version is expected. It returns the new
	// record and true on success. On a version mismatch it writes nothing
	// and returns the current record and false, so that the caller can
	// retry without another Load. value is never empty.
	CompareAndSet(ctx context.Context, name string, expected uint64, value []byte, writer Token) (Record, bool, error)

	// Delete removes the scope's value under the same check as
	// CompareAndSet, leaving a tombstone at version expected+1 written by
	// writer. On a mismatch it returns the current record and false.
	Delete(ctx context.Context, name string, expected uint64, writer Token) (Record, bool, error)
}

// Record is one committed state of a scope, as a Store returns it.
type Record struct {
	// Value is the msgpack encoding of the scope's value; nil when the scope
	// does not exist (never written, or deleted).
	Value []byte
	// Version counts the commits to the scope; 0 means never written.
	Version uint64
	// Writer is the token of the commit that produced Version; zero when
	// Version is 0.
	Writer Token
}

// Exists reports whether the record holds a value.
func (r Record) Exists() bool { return r.Value != nil }

// TokenSize is the length in bytes of a writer Token.
const TokenSize = 16

// Token identifies one commit attempt. The engine draws a fresh random token
// for every write, so that a commit whose reply was lost can be recognised
// afterwards by reading the scope's Writer.
type Token [TokenSize]byte

// NewToken returns a random token. It never returns the zero Token.
func NewToken() Token {
	var t Token
	for t == (Token{}) {
		binary.LittleEndian.PutUint64(t[:8], rand.Uint64())
		binary.LittleEndian.PutUint64(t[8:], rand.Uint64())
	}
	return t
}

// IsZero reports whether t is the zero Token, the writer of version 0.
func (t Token) IsZero() bool { return t == Token{} }

// String returns t in hexadecimal.
func (t Token) String() string { return hex.EncodeToString(t[:]) }
