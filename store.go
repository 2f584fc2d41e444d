package scoped

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"iter"
	"math/rand/v2"
	"time"
)

// Store is the contract every backend implements. Only the engine calls it:
// it moves opaque bytes and revisions, and decides nothing.
//
// A scope either has a record (a value, a version and the token of the write
// that made it) or has none: never written, or deleted. A write that creates
// a record stores version 1; every later write stores the expected version
// plus one. A delete removes the record entirely: nothing of a deleted scope
// stays in the store, and a re-created scope starts again at version 1.
// Writes are therefore checked against the expected Revision, version and
// writer together: a writer token is drawn afresh for every write, so a
// revision never comes back once it is gone, even when versions do, and a
// stale expectation can never match a re-created record.
//
// A record may expire: a write gives it an expiry time, or none. Once its
// expiry time has passed, by the store's clock (the Redis server's, the
// process's for the other stores), the record is gone as if deleted: Load
// returns the zero Record, a write expecting its revision is refused with
// the zero Record, a write expecting the zero Revision creates the scope
// again at version 1, and List leaves it out. A store may reclaim the space
// of expired records lazily (see Sweeper); the engine never needs it to.
//
// Implementations must be safe for concurrent use. Each method should reach
// the backing server once (one round trip), so that one engine attempt costs
// one round trip; a backend that needs a second one for a refused write says
// so.
//
// # Errors, and writes not performed
//
// A write that fails may still have been performed, or be performed later
// (a reply lost on the way back, a statement still queued on the server).
// When the engine cannot tell, it sends the very same write again (same
// expected revision, value and writer) to learn the outcome, and reports an
// unknown outcome when that fails too.
//
// A Store returns an error matching ErrNotApplied (wrap it with NotApplied)
// only when the server cannot have performed the operation and never will:
// the connection could not be made, the request was never sent (a pool or
// lock wait ended by the context), or the server answered that it refused
// it without running it (Redis LOADING or READONLY, a failed file write
// before its rename). The engine may then retry at once, safely. A Store
// must not return ErrNotApplied if there is any chance that the server
// performed, or will perform, the operation.
type Store interface {
	// Load returns the current record of the scope. A scope without a
	// record is not an error: it is the zero Record.
	Load(ctx context.Context, name string) (Record, error)

	// CompareAndSet stores next if and only if the scope's current
	// revision is expected (the zero Revision: the scope has no record). It
	// stores version expected.Version+1, with next's value, writer and
	// expiry time, and returns the new record and true. Otherwise it writes
	// nothing and returns the current record (the zero Record if there is
	// none) and false, so that the caller can retry without another Load.
	CompareAndSet(ctx context.Context, name string, expected Revision, next Write) (Record, bool, error)

	// Delete removes the scope's record if and only if its current
	// revision is expected, and returns the zero Record and true.
	// Otherwise it removes nothing and returns the current record and
	// false. Deleting a scope that has no record, expecting the zero
	// Revision, succeeds and changes nothing.
	Delete(ctx context.Context, name string, expected Revision) (Record, bool, error)

	// List yields the name of every scope with a record whose name begins
	// with prefix ("" for all), in no particular order. A scope that keeps
	// its record for the whole listing is yielded exactly once; one
	// created, deleted or expiring meanwhile may be yielded or not, but
	// never twice. Characters that are patterns to the server (*, ?, [, %,
	// _, \) match only themselves. An error ends the listing: it is
	// yielded once, with an empty name. The listing stops when the loop
	// breaks, and holds no server resources after it.
	List(ctx context.Context, prefix string) iter.Seq2[string, error]

	// CompareAndSetMany applies changes, to distinct scopes, all or none:
	// if and only if the current revision of every scope is its change's
	// Expected, it stores the Write of each ActionSet change (at version
	// Expected.Version+1), removes the record of each ActionDelete change,
	// leaves each ActionCheck scope as it is, and returns the records of
	// the scopes afterwards, in the order of changes, and true. Otherwise
	// it writes nothing and returns the current records of every scope, in
	// the order of changes, and false. A store that cannot apply the
	// changes in one atomic operation (Redis Cluster: scopes in different
	// hash slots) returns an error matching ErrNotColocated before sending
	// anything.
	CompareAndSetMany(ctx context.Context, changes []Change) ([]Record, bool, error)
}

// Action is what CompareAndSetMany does to one scope.
type Action uint8

// The actions of a Change.
const (
	ActionCheck  Action = iota // check the expected revision, change nothing
	ActionSet                  // store the Change's Write
	ActionDelete               // remove the record
)

// Change is one scope of a CompareAndSetMany: its name, the revision it
// must be at, and what to do to it.
type Change struct {
	Name     string
	Expected Revision
	Action   Action
	Write    Write // for ActionSet
}

// Sweeper is implemented by stores that keep expired records until they
// are reclaimed (the file, MySQL and PostgreSQL stores; Redis reclaims
// them itself). Expired records are never visible, so sweeping is only
// about space.
type Sweeper interface {
	// Sweep removes at most limit records that expired before it began,
	// and returns how many it removed: fewer than limit when no more are
	// left. A record written again meanwhile is never removed.
	Sweep(ctx context.Context, limit int) (int, error)
}

// Write is the state a CompareAndSet stores.
type Write struct {
	// Value is the msgpack encoding of the scope's value; never empty.
	Value []byte
	// Writer is the token of this write; never zero.
	Writer Token
	// ExpiresAt is when the record expires, to the millisecond; the zero
	// time for never.
	ExpiresAt time.Time
}

// Record returns the record that w makes at version, its expiry time to the
// millisecond, as a Store returns it.
func (w Write) Record(version uint64) Record {
	rec := Record{Value: w.Value, Version: version, Writer: w.Writer}
	if !w.ExpiresAt.IsZero() {
		rec.ExpiresAt = time.UnixMilli(w.ExpiresAt.UnixMilli())
	}
	return rec
}

// Revision identifies one committed state of a scope: the version and the
// token of the write that made it. The zero Revision stands for a scope
// without a record.
type Revision struct {
	Version uint64 // 1 for a record's first write, then one more per write
	Writer  Token  // the token of the write that stored Version
}

// IsZero reports whether r is the zero Revision: no record.
func (r Revision) IsZero() bool { return r == Revision{} }

// Record is one committed state of a scope, as a Store returns it.
type Record struct {
	// Value is the msgpack encoding of the scope's value; nil when the scope
	// has no record.
	Value []byte
	// Version counts the writes since the record was created; 0 when the
	// scope has no record.
	Version uint64
	// Writer is the token of the write that produced Version; zero when
	// the scope has no record.
	Writer Token
	// ExpiresAt is when the record expires, to the millisecond; the zero
	// time if it never does, or the scope has no record.
	ExpiresAt time.Time
}

// Exists reports whether the record holds a value.
func (r Record) Exists() bool { return r.Value != nil }

// Revision returns the record's version and writer.
func (r Record) Revision() Revision { return Revision{Version: r.Version, Writer: r.Writer} }

// TokenSize is the length in bytes of a writer Token.
const TokenSize = 16

// Token identifies one write. The engine draws a fresh random token for
// every write, so that a write whose reply was lost can be recognised
// afterwards by reading the scope's Writer, and so that a revision is never
// repeated.
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

// IsZero reports whether t is the zero Token, the writer of no record.
func (t Token) IsZero() bool { return t == Token{} }

// String returns t in hexadecimal.
func (t Token) String() string { return hex.EncodeToString(t[:]) }

// NotApplied marks err as the failure of an operation that the server
// certainly did not perform and never will: the returned error matches
// ErrNotApplied with errors.Is, unwraps to err and prints as err does. It
// returns nil for a nil err. See Store for when a backend may use it.
func NotApplied(err error) error {
	if err == nil || errors.Is(err, ErrNotApplied) {
		return err
	}
	return notApplied{err}
}

// notApplied is an error marked by NotApplied.
type notApplied struct{ err error }

func (e notApplied) Error() string        { return e.err.Error() }
func (e notApplied) Unwrap() error        { return e.err }
func (e notApplied) Is(target error) bool { return target == ErrNotApplied }
