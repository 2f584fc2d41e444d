package scoped

import (
	"context"
	"slices"
	"time"
)

// The caller's side of a call that writes. A call that finds its scope idle
// commits itself, alone, in its own goroutine (see commitSolo). Otherwise it
// queues on the scope's entry, where the scope's committer goroutine takes
// it, and waits for its outcome or for its own context to end, whichever
// comes first. A caller never runs another call's handler: a handler that
// blocks can hold up only the calls queued behind it on its scope, and each
// of those still returns when its own context ends. A call alone in a
// write sends it with its own context, and waits for that write's answer,
// which the Store returns as soon as the context ends.

// submit runs o on the scope name and returns its outcome.
func (e *Engine) submit(ctx context.Context, name string, o *op) (err error) {
	if e.opts.hooks.observed() {
		var start time.Time
		ctx, start = e.callStart(ctx, name, o.kind)
		defer func() { e.callDone(ctx, name, o.kind, o, start, err) }()
	}
	if err := ValidateName(name); err != nil {
		return err
	}
	if !e.enter() {
		return ErrClosed
	}
	defer e.leave()
	if err := ctx.Err(); err != nil {
		return notSent(name, err)
	}
	o.ctx = ctx
	o.done = make(chan struct{})
	e.counters.calls.Add(1)
	sh := e.table.shard(name)
	sh.mu.Lock()
	ent := sh.get(name)
	o.arrived = ent.clock
	ent.clock++
	if !ent.busy {
		// The scope is idle: commit this call in this goroutine, alone,
		// so that it runs only its own handler.
		ent.busy = true
		b := e.soloBatch(ent, o)
		sh.mu.Unlock()
		if e.commitSolo(b) {
			return o.outcome()
		}
	} else {
		o.state = opQueued
		ent.queue = append(ent.queue, o)
		sh.mu.Unlock()
	}

	select {
	case <-o.done:
		return o.outcome()
	case <-ctx.Done():
	}
	if err := e.abandon(ent, o); err != nil {
		return err
	}
	<-o.done // settled meanwhile, or its own write will say how it ended
	return o.outcome()
}

// abandon takes o, whose context ended, out of its scope's group commit. It
// returns the error the call ends with, or nil if o was settled meanwhile or
// is alone in a write sent with its own context: that write returns as
// soon as the context's end reaches the store, and tells whether it was
// performed.
func (e *Engine) abandon(ent *entry, o *op) error {
	sh := ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cause := o.ctx.Err()
	var err error
	switch {
	case o.state == opDone:
		return nil
	case o.state == opInFlight && o.batch.alone:
		return nil
	case o.state == opQueued:
		ent.queue = slices.DeleteFunc(ent.queue, func(q *op) bool { return q == o })
		err = notSent(ent.name, cause)
	case o.state == opBatched:
		err = notSent(ent.name, cause)
	case o.state == opInFlight:
		err = &CommitUnknownError{Scope: ent.name, Cause: cause}
	}
	o.state = opAbandoned
	if b := o.batch; b != nil {
		b.leave()
	}
	return err
}
