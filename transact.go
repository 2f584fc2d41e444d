package scoped

import (
	"bytes"
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Transact calls fn with the scopes names and commits every change fn made
// to them, all or none, atomically with respect to every other call on any
// of them: serializable, as a call on one scope is. A scope fn only read is
// checked at commit too, so no other writer can have changed it meanwhile
// (no write skew). When another writer committed first to any of the
// scopes, fn runs again on the fresh values. Read and change the scopes
// with tx.Scope (fields) or TxValue (a typed value).
//
// Within one engine, a Transact owns its scopes while it runs: it takes
// them in name order, waiting for the calls queued ahead of it on each, and
// the calls that arrive on them meanwhile wait for it, so calls that share
// a scope never deadlock and calls that share none run in parallel. It is
// not committed together with other calls, as calls on one scope are (see
// the package doc): the calls queued behind it on each scope are, once it
// is done. fn runs in the caller's goroutine; errors, panics, Goexit and
// re-runs are as for Run. fn must not call the engine on any of its
// scopes: the inner call would wait for the outer one forever.
//
// opts set the expiry of every scope the call writes. Scope names must be
// distinct; on Redis Cluster they must share a hash tag, or Transact fails
// with ErrNotColocated before anything runs.
func Transact[R any](ctx context.Context, e *Engine, names []string, fn func(tx *Tx) (R, error), opts ...CallOption) (R, error) {
	var res R
	err := e.transact(ctx, names, newCallOptions(opts), func(tx *Tx) error {
		r, err := fn(tx)
		res = r
		return err
	})
	if err != nil {
		var zero R
		return zero, err
	}
	return res, nil
}

// Tx is the scopes of one run of a Transact handler. It is valid only
// inside that handler, and is not safe for concurrent use.
type Tx struct {
	scopes map[string]*txScope
	now    func() time.Time
}

// txScope is one scope of a transaction: the entry it owns, its base
// record, and the value the handler works on.
type txScope struct {
	ent    *entry
	rec    Record
	w      *working
	typed  any          // the *T given by TxValue, if any
	encode func() error // writes typed back into w
}

// Scope returns the fields of the scope name, which the Transact call must
// have named. Changes are committed with the transaction's.
func (tx *Tx) Scope(name string) (*Scope, error) {
	ts, err := tx.scope(name)
	if err != nil {
		return nil, err
	}
	if ts.typed != nil {
		return nil, fmt.Errorf("scoped: scope %q is already used as a typed value in this transaction", truncate(name))
	}
	s, err := ts.w.fields()
	if err != nil {
		return nil, err
	}
	s.expires = ts.w.expires
	return s, nil
}

// TxValue returns the value of the scope name decoded into a T (T's zero
// value if the scope has none), which the Transact call must have named.
// The value the pointer holds when the handler returns is committed with
// the transaction, as Update commits its value; the same pointer is
// returned for each call on one name.
func TxValue[T any](tx *Tx, name string) (*T, error) {
	ts, err := tx.scope(name)
	if err != nil {
		return nil, err
	}
	if ts.typed != nil {
		v, ok := ts.typed.(*T)
		if !ok {
			return nil, fmt.Errorf("scoped: scope %q is already used as a %T in this transaction", truncate(name), ts.typed)
		}
		return v, nil
	}
	if ts.w.scope != nil {
		return nil, fmt.Errorf("scoped: scope %q is already used as fields in this transaction", truncate(name))
	}
	before := ts.w.bytes()
	v, err := decodeValue[T](name, before)
	if err != nil {
		return nil, err
	}
	ts.typed = v
	ts.encode = func() error {
		after, err := encodeValue(name, before, v)
		if err == nil {
			ts.w.set(after)
		}
		return err
	}
	return v, nil
}

func (tx *Tx) scope(name string) (*txScope, error) {
	ts := tx.scopes[name]
	if ts == nil {
		return nil, fmt.Errorf("scoped: scope %q: %w", truncate(name), ErrNotInTransaction)
	}
	return ts, nil
}

// transact runs the calls of Transact: it claims the scopes, runs fn and
// commits its changes until they commit, fail, or ctx ends.
func (e *Engine) transact(ctx context.Context, names []string, call callOptions, fn func(*Tx) error) (err error) {
	first := ""
	if len(names) > 0 {
		first = names[0]
	}
	if e.opts.hooks.observed() {
		var start time.Time
		ctx, start = e.callStart(ctx, first, KindTransact)
		defer func() { e.callDone(ctx, first, KindTransact, nil, start, err) }()
	}
	sorted, err := checkNames(names)
	if err != nil {
		return err
	}
	if !e.enter() {
		return ErrClosed
	}
	defer e.leave()
	if err := ctx.Err(); err != nil {
		return notSent(first, err)
	}
	e.counters.calls.Add(1)
	t := &transaction{e: e, ctx: ctx, call: call, scopes: make([]*txScope, 0, len(sorted))}
	defer t.release()
	for _, name := range sorted {
		ent, err := e.claim(ctx, name)
		if err != nil {
			return err
		}
		t.scopes = append(t.scopes, &txScope{ent: ent})
	}
	return t.commit(fn)
}

// checkNames validates the names of a Transact and returns them sorted.
func checkNames(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, &NameError{Reason: "Transact names no scope"}
	}
	for _, name := range names {
		if err := ValidateName(name); err != nil {
			return nil, err
		}
	}
	sorted := slices.Sorted(slices.Values(names))
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return nil, &NameError{Name: sorted[i], Reason: "named twice in one Transact"}
		}
	}
	return sorted, nil
}

// transaction is one Transact call holding its scopes, in name order.
type transaction struct {
	e      *Engine
	ctx    context.Context
	call   callOptions
	scopes []*txScope
	have   bool // every scope has its base record
}

// release caches the records the transaction knows and gives its scopes
// back.
func (t *transaction) release() {
	for _, ts := range t.scopes {
		if t.have {
			sh := ts.ent.shard
			sh.mu.Lock()
			ts.ent.remember(ts.rec, ts.ent.clock)
			sh.mu.Unlock()
		}
		t.e.unclaim(ts.ent)
	}
}

// commit runs fn and commits its changes, attempt after attempt.
func (t *transaction) commit(fn func(*Tx) error) error {
	t.cached()
	for attempt, streak := 1, 0; ; attempt++ {
		if !t.have {
			if err := t.load(); err != nil {
				return err
			}
		}
		changes, err := t.run(fn)
		if err != nil {
			return err
		}
		cur, ok, err := t.write(changes)
		wait := false
		switch {
		case err == nil && ok:
			t.settle(cur)
			return nil
		case err == nil:
			t.e.counters.conflicts.Add(1)
			t.settle(cur)
			streak++
			if attempt >= t.e.opts.maxAttempts {
				return &ConflictError{Scope: t.scopes[0].ent.name, Attempts: attempt}
			}
			wait = streak > 1 // the first retry uses the records the conflict returned
		case dataError(err):
			return writeError(t.scopes[0].ent.name, err)
		case retryable(err):
			streak++
			if attempt >= t.e.opts.maxAttempts {
				return writeError(t.scopes[0].ent.name, err)
			}
			wait = true
		default:
			return t.resolve(changes, err)
		}
		if cause := t.ctx.Err(); cause != nil {
			return notSent(t.scopes[0].ent.name, cause)
		}
		t.e.counters.retries.Add(1)
		if wait {
			t.e.opts.backoff(t.ctx, streak)
			t.have = false // records kept through the wait would be stale
		}
	}
}

// cached takes the scopes' cached records as base records, if every scope
// has one.
func (t *transaction) cached() {
	t.have = true
	for _, ts := range t.scopes {
		sh := ts.ent.shard
		sh.mu.Lock()
		ts.rec = ts.ent.rec
		t.have = t.have && ts.ent.cached
		sh.mu.Unlock()
	}
}

// load reads the base record of every scope, concurrently, retrying while
// loads fail for another reason than their data.
func (t *transaction) load() error {
	errs := make([]error, len(t.scopes))
	var wg sync.WaitGroup
	for i, ts := range t.scopes {
		wg.Go(func() {
			ts.rec, errs[i] = t.e.loadRetrying(t.ctx, ts.ent.name)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	t.have = true
	return nil
}

// run runs fn on the base records and returns the changes to commit. A
// handler's error or panic writes nothing; a panic is raised again in the
// caller's goroutine as a *PanicError, once the scopes are released.
func (t *transaction) run(fn func(*Tx) error) ([]Change, error) {
	tx := &Tx{scopes: make(map[string]*txScope, len(t.scopes)), now: t.e.opts.now}
	for _, ts := range t.scopes {
		ts.w = &working{name: ts.ent.name, blob: ts.rec.Value, expires: ts.rec.ExpiresAt}
		ts.typed, ts.encode = nil, nil
		tx.scopes[ts.ent.name] = ts
	}
	panicked, err := runHandler(fn, tx)
	if panicked != nil {
		t.release()
		t.scopes = nil
		panic(panicked)
	}
	if err != nil {
		return nil, err
	}
	changes := make([]Change, len(t.scopes))
	for i, ts := range t.scopes {
		if ts.encode != nil {
			if err := ts.encode(); err != nil {
				return nil, err
			}
		}
		final := ts.w.bytes()
		c := Change{Name: ts.ent.name, Expected: ts.rec.Revision()}
		if !bytes.Equal(final, ts.rec.Value) || (final == nil) != (ts.rec.Value == nil) {
			t.call.apply(ts.w, t.e.opts.now) // the expiry of the scopes it changes
		}
		switch next := (Write{Value: final, ExpiresAt: ts.w.expires}); {
		case next.same(ts.rec):
			c.Action = ActionCheck
		case final == nil:
			c.Action = ActionDelete
		case len(final) > t.e.opts.maxValueSize:
			return nil, &ValueTooLargeError{Scope: ts.ent.name, Size: len(final), Limit: t.e.opts.maxValueSize}
		default:
			next.Writer = NewToken()
			c.Action, c.Write = ActionSet, next
		}
		changes[i] = c
	}
	return changes, nil
}

// runHandler calls fn, and returns its panic, if it panicked, with the
// stack where it did, or its error.
func runHandler(fn func(*Tx) error, tx *Tx) (panicked *PanicError, err error) {
	defer func() {
		if v := recover(); v != nil {
			panicked = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return nil, fn(tx)
}

// write sends changes in one CompareAndSetMany, with the caller's context.
func (t *transaction) write(changes []Change) ([]Record, bool, error) {
	t.e.counters.writes.Add(1)
	start := t.e.storeStart()
	cur, ok, err := t.e.store.CompareAndSetMany(t.ctx, changes)
	t.e.storeDone(t.ctx, changes[0].Name, StoreCompareAndSetMany, start, ok, err)
	if err == nil && len(cur) != len(changes) {
		err = fmt.Errorf("scoped: the store answered %d records for %d scopes", len(cur), len(changes))
	}
	return cur, ok, err
}

// settle takes the records a write returned as the scopes' base records.
func (t *transaction) settle(cur []Record) {
	for i, ts := range t.scopes {
		ts.rec = cur[i]
	}
	t.have = true
}

// resolve learns the outcome of a write of changes that failed with cause,
// which does not say whether it was performed, as a single scope's resolve
// does: it sends the same write again, or, if it creates a scope, looks for
// its tokens. The write was performed if a copy is, or if a scope it sets
// holds its token.
func (t *transaction) resolve(changes []Change, cause error) error {
	create := slices.ContainsFunc(changes, func(c Change) bool { return c.Action != ActionCheck && c.Expected.IsZero() })
	for try := 1; try <= resolveTries; try++ {
		if t.e.opts.backoff(t.ctx, try) != nil {
			break
		}
		var (
			cur []Record
			ok  bool
			err error
		)
		if create {
			err = t.load()
			cur = make([]Record, len(t.scopes))
			for i, ts := range t.scopes {
				cur[i] = ts.rec
			}
		} else {
			cur, ok, err = t.write(changes)
		}
		if err != nil {
			continue
		}
		if ok || wroteAny(changes, cur) {
			t.settle(cur)
			return nil
		}
		break
	}
	t.e.counters.unknown.Add(1)
	t.have = false
	for _, ts := range t.scopes {
		sh := ts.ent.shard
		sh.mu.Lock()
		ts.ent.forget()
		sh.mu.Unlock()
	}
	return &CommitUnknownError{Scope: changes[0].Name, Cause: cause}
}

// wroteAny reports whether a scope that changes set holds its token in cur.
func wroteAny(changes []Change, cur []Record) bool {
	for i, c := range changes {
		if c.Action == ActionSet && cur[i].Writer == c.Write.Writer {
			return true
		}
	}
	return false
}
