package scoped

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
)

// opState is where a call stands in its scope's group commit. It is guarded
// by the shard's mutex.
type opState uint8

const (
	opQueued    opState = iota // waiting in entry.queue
	opBatched                  // in a batch, with no write of it in flight
	opInFlight                 // its change is in a write awaiting its reply
	opDone                     // settled: outcome set, done closed
	opAbandoned                // its caller's context ended; it left
)

// op is one call (Run, Update or Delete) on a scope. The caller's goroutine
// submits it and waits; the scope's committer runs its handler.
type op struct {
	ctx   context.Context
	kind  CallKind
	apply func(w *working) error // runs the handler on the batch's value
	claim bool                   // a claim of the scope by a Transact (claim.go), not a call
	tx    *txCall                // the Transact of a claim
	first bool                   // a claim of its Transact's first scope: it owns none yet

	// Guarded by the shard's mutex.
	state   opState
	arrived tick          // the scope's clock when the call arrived
	batch   *batch        // the batch holding it, while batched or in flight
	done    chan struct{} // closed when settled

	// Written by the committer only, read by the caller after done.
	attempts  int // failed attempts
	writes    int // writes that carried its change
	conflicts int // of which, refused by another writer's commit
	batched   int // calls in the batch that settled it
	wrote     bool
	err       error
	panicked  *PanicError // the handler panicked
	goexit    bool        // the handler called runtime.Goexit
	joined    bool        // a claim whose Transact a batch took in
}

// outcome returns the call's error in its caller's goroutine, re-raises its
// handler's panic there, or ends that goroutine if the handler called
// runtime.Goexit: the caller fares as if it had run the handler itself.
func (o *op) outcome() error {
	switch {
	case o.goexit:
		runtime.Goexit()
	case o.panicked != nil:
		panic(o.panicked)
	}
	return o.err
}

// run applies the call's handler to w. A handler that fails, panics or
// calls runtime.Goexit leaves w as it was; with a limit above 0, a change
// that makes the value larger than limit bytes is refused. A Goexit goes on
// unwinding the committer's goroutine once run has noted it.
func (o *op) run(w *working, limit int) {
	o.err, o.panicked = nil, nil
	var before []byte
	if limit > 0 {
		before = w.bytes()
	}
	cp := w.checkpoint()
	returned := false
	defer func() {
		if returned {
			return
		}
		if p := recover(); p != nil {
			o.panicked = &PanicError{Value: p, Stack: debug.Stack()}
		} else {
			o.goexit = true
		}
		w.rollback(cp)
	}()
	err := o.apply(w)
	returned = true
	if err != nil {
		o.err = err
		w.rollback(cp)
		return
	}
	if limit > 0 {
		if after := w.bytes(); len(after) > limit && !bytes.Equal(after, before) {
			o.err = &ValueTooLargeError{Scope: w.name, Size: len(after), Limit: limit}
			w.rollback(cp)
		}
	}
}
