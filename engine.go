// Package scoped gives a handler atomic read-modify-write access to a named
// scope of state, kept in a Store (Redis, a local directory, MySQL) and
// shared by goroutines, processes and machines.
//
// A handler runs on the scope's current value; the engine detects whether it
// changed anything and, if so, commits the change with a compare-and-set on
// the scope's version. When another writer committed first, the change is
// discarded and the handler runs again on the fresh value, until it commits or
// the attempt limit or the context ends it. Handlers must therefore be free of
// side effects: no I/O, no sends on channels, no changes to variables outside
// the handler other than through its result. A handler may run several times
// for one call; only the run that committed returns its result.
//
// Calls on the same scope from one Engine are committed together: while one
// commit is in flight, the next calls queue, and their handlers then run one
// after another on one value, committed by a single compare-and-set. Each call
// returns only after its batch committed, and sees exactly the changes of the
// calls before it in that batch: the result is as if the calls had run one at
// a time, in commit order.
//
// Transact runs one handler over several scopes and commits its changes to
// all of them, or none. It owns its scopes while it runs and commits alone;
// the calls that queue behind it on each scope are committed together once
// it is done.
package scoped

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Engine runs scoped calls against a Store. It is safe for concurrent use;
// create one per store and share it. It runs a goroutine per scope only
// while calls on that scope are committing; Close waits for them.
type Engine struct {
	lifecycle
	store    Store
	opts     options
	table    *table
	counters counters
	txmu     sync.Mutex // guards the state of Transact calls in batches (txbatch.go)
}

// New returns an engine over store. It panics if an option was given an
// invalid setting, naming it: options are set by the program, not its input.
func New(store Store, opts ...Option) *Engine {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.invalid) > 0 {
		panic("scoped: New: " + strings.Join(o.invalid, "; "))
	}
	e := &Engine{store: store, opts: o, table: newTable(o.cacheScopes, o.cacheBytes)}
	e.idle = make(chan struct{})
	return e
}

// Run calls fn with the fields of the scope name and commits the changes fn
// made, atomically with respect to every other call on that scope. It
// returns fn's result once the change is committed; if nothing changed, it
// returns once the state fn read is known to be current.
//
// fn runs in the caller's goroutine when the call finds its scope idle, and
// otherwise in the scope's committer goroutine, with the calls queued beside
// it. If fn returns an error, Run writes nothing and returns that error as it is. If fn
// panics, Run writes nothing and panics in the caller's goroutine with a
// *PanicError holding fn's panic value and stack. If fn calls
// runtime.Goexit, Run writes nothing and calls runtime.Goexit in the
// caller's goroutine. fn may run several times and must be free of side
// effects (see the package doc). A call whose context ends returns at once,
// even while fn runs for it; that run of fn finishes later, its result
// discarded. fn must not call the engine on its own scope: the inner call
// would wait for the outer one forever.
//
// opts set what the call writes beside the fields: ExpireAfter, ExpireAt,
// Persist.
//
// An error matching ErrCommitUnknown means the change may have been
// written; any other error means it was not, and never will be.
func Run[R any](ctx context.Context, e *Engine, name string, fn func(s *Scope) (R, error), opts ...CallOption) (R, error) {
	var res R
	call := newCallOptions(opts)
	err := e.submit(ctx, name, &op{kind: KindRun, apply: func(w *working) error {
		s, err := w.fields()
		if err != nil {
			return err
		}
		s.expires = w.expires
		r, err := fn(s)
		if err != nil {
			return err
		}
		call.apply(w, e.opts.now)
		res = r
		return nil
	}})
	if err != nil { // res may still be written by a handler left running
		var zero R
		return zero, err
	}
	return res, nil
}

// Update calls fn with the value of the scope name, decoded into a T (T's
// zero value if the scope has none), and commits the value fn leaves
// behind, atomically with respect to every other call on that scope. It
// returns fn's result once committed. Errors, panics and re-runs are as for
// Run. A scope left at T's zero value that had no value stays absent. If the
// stored value has fields that T does not hold, Update fails with an
// *UnknownFieldError rather than drop them. opts set the scope's expiry, as
// for Run.
func Update[T, R any](ctx context.Context, e *Engine, name string, fn func(v *T) (R, error), opts ...CallOption) (R, error) {
	var res R
	call := newCallOptions(opts)
	err := e.submit(ctx, name, &op{kind: KindUpdate, apply: func(w *working) error {
		before := w.bytes()
		v, err := decodeValue[T](name, before)
		if err != nil {
			return err
		}
		r, err := fn(v)
		if err != nil {
			return err
		}
		after, err := encodeValue(name, before, v)
		if err != nil {
			return err
		}
		w.set(after)
		call.apply(w, e.opts.now)
		res = r
		return nil
	}})
	if err != nil { // res may still be written by a handler left running
		var zero R
		return zero, err
	}
	return res, nil
}

// Delete removes the scope name, whatever it holds, atomically with respect
// to every other call on it: nothing of it stays in the store. Deleting an
// absent scope writes nothing. A writer that read the scope before the
// delete cannot write over it afterwards, even once it is created again.
func (e *Engine) Delete(ctx context.Context, name string) error {
	return e.submit(ctx, name, &op{kind: KindDelete, apply: func(w *working) error {
		w.set(nil)
		return nil
	}})
}

// View calls fn with the current fields of the scope name, read-only, and
// returns its result. It never writes: Set and Delete on the scope fail with
// ErrReadOnly. fn runs once, in the caller's goroutine, on a value read
// after View was called.
func View[R any](ctx context.Context, e *Engine, name string, fn func(s *Scope) (R, error)) (_ R, err error) {
	if e.opts.hooks.observed() {
		var start time.Time
		ctx, start = e.callStart(ctx, name, KindView)
		defer func() { e.callDone(ctx, name, KindView, nil, start, err) }()
	}
	var zero R
	rec, err := e.read(ctx, name)
	if err != nil {
		return zero, err
	}
	s, err := decodeScope(name, rec.Value, true)
	if err != nil {
		return zero, err
	}
	s.expires = rec.ExpiresAt
	return fn(s)
}

// Read returns the current value of the scope name decoded into a T, or T's
// zero value if the scope has none. It never writes. Lookup tells the two
// apart.
func Read[T any](ctx context.Context, e *Engine, name string) (T, error) {
	v, _, err := Lookup[T](ctx, e, name)
	return v, err
}

// Lookup returns the current value of the scope name decoded into a T, and
// true; or T's zero value and false if the scope has no value (never
// written, or deleted). It never writes.
func Lookup[T any](ctx context.Context, e *Engine, name string) (_ T, _ bool, err error) {
	if e.opts.hooks.observed() {
		var start time.Time
		ctx, start = e.callStart(ctx, name, KindRead)
		defer func() { e.callDone(ctx, name, KindRead, nil, start, err) }()
	}
	var v T
	rec, err := e.read(ctx, name)
	if err != nil || rec.Value == nil {
		return v, false, err
	}
	if err := decode(rec.Value, &v); err != nil {
		return v, true, &CorruptValueError{Scope: name, Err: err}
	}
	return v, true, nil
}

// read loads the current record of name for a call that only reads, in the
// caller's goroutine, and caches it. A load that fails for another reason
// than its data is tried again, with backoff, within the attempt limit.
func (e *Engine) read(ctx context.Context, name string) (Record, error) {
	if err := ValidateName(name); err != nil {
		return Record{}, err
	}
	if !e.enter() {
		return Record{}, ErrClosed
	}
	defer e.leave()
	e.counters.calls.Add(1)
	sh := e.table.shard(name)
	sh.mu.Lock()
	ent := sh.get(name)
	at := ent.clock
	ent.clock++
	ent.readers++ // keeps ent, and so its clock, until the record is cached
	sh.mu.Unlock()

	rec, err := e.loadRetrying(ctx, name)

	sh.mu.Lock()
	ent.readers--
	if err == nil && !ent.busy { // a committer caches what it writes
		ent.remember(rec, at)
	}
	sh.release(ent)
	sh.mu.Unlock()
	return rec, err
}

// loadRetrying loads the record of name, trying again after a wait while
// the load fails for another reason than the data.
func (e *Engine) loadRetrying(ctx context.Context, name string) (Record, error) {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return Record{}, fmt.Errorf("scoped: scope %q: %w", truncate(name), err)
		}
		e.counters.loads.Add(1)
		start := e.storeStart()
		rec, err := e.store.Load(ctx, name)
		e.storeDone(ctx, name, StoreLoad, start, true, err)
		switch {
		case err == nil:
			return rec, nil
		case ctx.Err() != nil:
			return Record{}, fmt.Errorf("scoped: scope %q: %w", truncate(name), ctx.Err())
		case dataError(err) || attempt >= e.opts.maxAttempts:
			return Record{}, loadError(name, err)
		}
		e.opts.backoff(ctx, attempt)
	}
}

// decodeValue decodes b, the value of the scope name, into a new T: T's
// zero value if b is nil. It refuses a value with fields T does not hold.
func decodeValue[T any](name string, b []byte) (*T, error) {
	v := new(T)
	if b == nil {
		return v, nil
	}
	if err := decodeKnown(b, v); errors.Is(err, errUnknownField) {
		return nil, &UnknownFieldError{Scope: name, Type: fmt.Sprintf("%T", *v), Err: err}
	} else if err != nil {
		return nil, &CorruptValueError{Scope: name, Err: err}
	}
	return v, nil
}

// encodeValue returns the canonical encoding of v, the value of the scope
// name that was before: nil, no value, if there was none and v is T's zero
// value.
func encodeValue[T any](name string, before []byte, v *T) ([]byte, error) {
	after, err := encode(v)
	if err != nil {
		return nil, fmt.Errorf("scoped: scope %q: %w", truncate(name), err)
	}
	if before == nil {
		if zero, err := encode(new(T)); err == nil && bytes.Equal(after, zero) {
			return nil, nil
		}
	}
	return after, nil
}
