package scoped

import (
	"context"
	"fmt"
	"slices"
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
// Within one engine, a Transact owns its scopes while it commits: it takes
// them in name order, waiting for the calls queued ahead of it on each, and
// the calls that arrive on them meanwhile wait for it, so calls that share
// a scope never deadlock and calls that share none run in parallel. Group
// commit applies to Transacts as to calls on one scope: Transacts that
// queue while one commits are committed together by one CompareAndSetMany
// over the union of their scopes, their handlers run one after another,
// each seeing the changes of those before it, each with its own result. A
// Transact that finds its scopes idle runs fn in the caller's goroutine;
// one committed with others, in a goroutine of the engine, while the caller
// waits for its outcome or its own context. Errors, panics, Goexit and
// re-runs are as for Run. fn must not call the engine on any of its scopes:
// the inner call would wait for the outer one forever.
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
	views map[string]*txView
}

// txView is one scope as one handler sees it: the batch's working value,
// and the typed value the handler took of it.
type txView struct {
	w      *working
	fields bool         // the handler took the fields with Scope
	typed  any          // the *T given by TxValue, if any
	encode func() error // writes typed back into w
}

// Scope returns the fields of the scope name, which the Transact call must
// have named. Changes are committed with the transaction's.
func (tx *Tx) Scope(name string) (*Scope, error) {
	v, err := tx.view(name)
	if err != nil {
		return nil, err
	}
	if v.typed != nil {
		return nil, fmt.Errorf("scoped: scope %q is already used as a typed value in this transaction", truncate(name))
	}
	s, err := v.w.fields()
	if err != nil {
		return nil, err
	}
	v.fields = true
	s.expires = v.w.expires
	return s, nil
}

// TxValue returns the value of the scope name decoded into a T (T's zero
// value if the scope has none), which the Transact call must have named.
// The value the pointer holds when the handler returns is committed with
// the transaction, as Update commits its value; the same pointer is
// returned for each call on one name.
func TxValue[T any](tx *Tx, name string) (*T, error) {
	view, err := tx.view(name)
	if err != nil {
		return nil, err
	}
	if view.typed != nil {
		v, ok := view.typed.(*T)
		if !ok {
			return nil, fmt.Errorf("scoped: scope %q is already used as a %T in this transaction", truncate(name), view.typed)
		}
		return v, nil
	}
	if view.fields {
		return nil, fmt.Errorf("scoped: scope %q is already used as fields in this transaction", truncate(name))
	}
	before := view.w.bytes()
	v, err := decodeValue[T](name, before)
	if err != nil {
		return nil, err
	}
	view.typed = v
	view.encode = func() error {
		after, err := encodeValue(name, before, v)
		if err == nil {
			view.w.set(after)
		}
		return err
	}
	return v, nil
}

func (tx *Tx) view(name string) (*txView, error) {
	v := tx.views[name]
	if v == nil {
		return nil, fmt.Errorf("scoped: scope %q: %w", truncate(name), ErrNotInTransaction)
	}
	return v, nil
}

// transact runs a Transact: it claims the scopes and commits the call
// alone, in the caller's goroutine, or joins the batch of a Transact that
// owns the first of them, and waits for its outcome.
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
	t := &txCall{ctx: ctx, names: sorted, fn: fn, call: call, done: make(chan struct{})}
	owned := make([]*entry, 0, len(sorted))
	for i, name := range sorted {
		ent, joined, err := e.claim(ctx, name, t, i == 0)
		if err != nil {
			for _, o := range owned {
				e.unclaim(o)
			}
			return err
		}
		if joined {
			return e.await(t)
		}
		owned = append(owned, ent)
	}
	return e.commitTxSolo(t, owned)
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
