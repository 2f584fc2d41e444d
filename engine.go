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
package scoped

import (
	"bytes"
	"context"
	"fmt"
)

// Engine runs scoped calls against a Store. It is safe for concurrent use;
// create one per store and share it. An Engine needs no closing: it runs no
// goroutines of its own, but for one, bounded by 5 seconds, that learns the
// outcome of a write whose caller's context ended while it was in flight.
type Engine struct {
	store    Store
	opts     options
	table    *table
	counters counters
}

// New returns an engine over store.
func New(store Store, opts ...Option) *Engine {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	return &Engine{store: store, opts: o, table: newTable(o.cacheScopes, o.cacheBytes)}
}

// Run calls fn with the fields of the scope name and commits the changes fn
// made, atomically with respect to every other call on that scope. It
// returns fn's result once the change is committed; if nothing changed, it
// returns once the state fn read is known to be current.
//
// If fn returns an error, Run writes nothing and returns that error as it
// is. If fn panics, Run writes nothing and panics with the same value. fn may
// run several times and must be free of side effects (see the package doc);
// a call whose context ends while another goroutine runs fn for it returns
// at once, and that run of fn finishes later, its result discarded. fn must
// not call the engine on its own scope: the inner call would wait for the
// outer one forever.
func Run[R any](ctx context.Context, e *Engine, name string, fn func(s *Scope) (R, error)) (R, error) {
	var res R
	err := e.submit(ctx, name, &op{apply: func(w *working) error {
		s, err := w.fields()
		if err != nil {
			return err
		}
		r, err := fn(s)
		if err != nil {
			return err
		}
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
// zero value if the scope was never written), and commits the value fn
// leaves behind, atomically with respect to every other call on that scope.
// It returns fn's result once committed. Errors, panics and re-runs are as
// for Run. A scope left at T's zero value that had no value stays absent.
func Update[T, R any](ctx context.Context, e *Engine, name string, fn func(v *T) (R, error)) (R, error) {
	var res R
	err := e.submit(ctx, name, &op{apply: func(w *working) error {
		before := w.bytes()
		v := new(T)
		if before != nil {
			if err := decode(before, v); err != nil {
				return &CorruptValueError{Scope: name, Err: err}
			}
		}
		r, err := fn(v)
		if err != nil {
			return err
		}
		after, err := encode(v)
		if err != nil {
			return fmt.Errorf("scoped: scope %q: %w", truncate(name), err)
		}
		if before == nil {
			if zero, err := encode(new(T)); err == nil && bytes.Equal(after, zero) {
				after = nil
			}
		}
		w.set(after)
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
// to every other call on it. Deleting an absent scope writes nothing. The
// scope's version survives the delete, so a stale writer cannot resurrect an
// old value.
func (e *Engine) Delete(ctx context.Context, name string) error {
	return e.submit(ctx, name, &op{apply: func(w *working) error {
		w.set(nil)
		return nil
	}})
}

// View calls fn with the current fields of the scope name, read-only, and
// returns its result. It never writes: Set and Delete on the scope fail with
// ErrReadOnly. fn runs once, on a value read after View was called.
func View[R any](ctx context.Context, e *Engine, name string, fn func(s *Scope) (R, error)) (R, error) {
	var zero R
	rec, err := e.load(ctx, name)
	if err != nil {
		return zero, err
	}
	s, err := decodeScope(name, rec.Value, true)
	if err != nil {
		return zero, err
	}
	return fn(s)
}

// Read returns the current value of the scope name decoded into a T, or T's
// zero value if the scope has none. It never writes.
func Read[T any](ctx context.Context, e *Engine, name string) (T, error) {
	var v T
	rec, err := e.load(ctx, name)
	if err != nil || rec.Value == nil {
		return v, err
	}
	if err := decode(rec.Value, &v); err != nil {
		return v, &CorruptValueError{Scope: name, Err: err}
	}
	return v, nil
}

// load reads the current record of name and caches it.
func (e *Engine) load(ctx context.Context, name string) (Record, error) {
	if err := ValidateName(name); err != nil {
		return Record{}, err
	}
	e.counters.calls.Add(1)
	e.counters.loads.Add(1)
	rec, err := e.store.Load(ctx, name)
	if err != nil {
		if ctx.Err() != nil {
			return Record{}, contextError(name, ctx.Err())
		}
		return Record{}, fmt.Errorf("scoped: load scope %q: %w", truncate(name), err)
	}
	sh := e.table.shard(name)
	sh.mu.Lock()
	ent := sh.get(name)
	ent.remember(rec, 0)
	sh.settle(ent)
	sh.mu.Unlock()
	return rec, nil
}
