package scoped

import (
	"bytes"
	"context"
)

// opState is where a call stands in its scope's group commit. It is guarded
// by the shard's mutex.
type opState uint8

const (
	opQueued    opState = iota // waiting in entry.queue
	opLeading                  // its own goroutine leads the scope's commits
	opBatched                  // in the leader's batch, with no write in flight
	opInFlight                 // its changes are in a write awaiting its reply
	opDone                     // settled: outcome set and signalled
	opAbandoned                // its caller's context ended; it left the batch
)

// signal tells a waiting call what happened to it.
type signal uint8

const (
	sigDone signal = iota // the outcome is set
	sigLead               // the call must now lead the scope's commits
)

// op is one call (Run, Update or Delete) on a scope.
type op struct {
	ctx   context.Context
	apply func(w *working) error // runs the handler on the batch's value

	// Guarded by the shard's mutex.
	state   opState
	arrival uint64      // entry clock when the call arrived
	wake    chan signal // buffered; set when the call has to wait

	// Owned by the leading goroutine until the call is settled.
	attempts int
	err      error
	panicked bool
	panicVal any
}

// outcome returns the call's error, or re-raises its handler's panic.
func (o *op) outcome() error {
	if o.panicked {
		panic(o.panicVal)
	}
	return o.err
}

// run applies the call's handler to w. A handler that fails or panics
// leaves w as it was; a result over limit bytes is refused when checkSize.
func (o *op) run(w *working, checkSize bool, limit int) {
	o.err, o.panicked, o.panicVal = nil, false, nil
	var before []byte
	if checkSize {
		before = w.bytes()
	}
	cp := w.checkpoint()
	defer func() {
		if p := recover(); p != nil {
			o.panicked, o.panicVal = true, p
			w.rollback(cp)
		}
	}()
	if err := o.apply(w); err != nil {
		o.err = err
		w.rollback(cp)
		return
	}
	if checkSize {
		if after := w.bytes(); len(after) > limit && !bytes.Equal(after, before) {
			o.err = &ValueTooLargeError{Scope: w.name, Size: len(after), Limit: limit}
			w.rollback(cp)
		}
	}
}
