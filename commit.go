package scoped

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Group commit. The first call on an idle scope leads: it takes every call
// that queued on the scope, runs their handlers one after another on one
// working value, and commits the result with a single compare-and-set. Calls
// that arrive meanwhile queue up and form the next batch, led by the first of
// them. Each call is settled only when the batch is: committed, or verified
// current when nothing changed. A conflicting commit re-runs the whole batch
// on the record the store returned. The order of the handlers in a batch is
// the order of the commits: the history is serializable.

// resolveTimeout bounds the second write that learns the outcome of a write
// whose leader's context ended while it was in flight.
const resolveTimeout = 5 * time.Second

// resolveTries is how many copies of a write whose reply was lost are sent
// to learn its outcome.
const resolveTries = 3

// submit runs o on the scope name and returns its outcome.
func (e *Engine) submit(ctx context.Context, name string, o *op) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return contextError(name, err)
	}
	o.ctx = ctx
	e.counters.calls.Add(1)
	sh := e.table.shard(name)
	sh.mu.Lock()
	ent := sh.get(name)
	o.arrival = ent.clock
	ent.clock++
	if !ent.leading {
		ent.leading = true
		o.state = opLeading
		sh.mu.Unlock()
		e.lead(ent, o)
		return o.outcome()
	}
	o.state = opQueued
	o.wake = make(chan signal, 1)
	ent.queue = append(ent.queue, o)
	sh.mu.Unlock()
	if err := e.wait(ent, o); err != nil {
		return err
	}
	return o.outcome()
}

// wait blocks until o is settled or must lead. It returns an error only
// when o's context ends first, taking o out of its batch.
func (e *Engine) wait(ent *entry, o *op) error {
	select {
	case s := <-o.wake:
		e.woken(ent, o, s)
		return nil
	case <-o.ctx.Done():
	}
	sh := ent.shard
	sh.mu.Lock()
	var err error
	switch o.state {
	case opQueued:
		ent.queue = slices.DeleteFunc(ent.queue, func(q *op) bool { return q == o })
		err = contextError(ent.name, o.ctx.Err())
	case opBatched:
		err = contextError(ent.name, o.ctx.Err())
	case opInFlight:
		err = commitUnknown(ent.name, contextError(ent.name, o.ctx.Err()))
	}
	if err != nil {
		o.state = opAbandoned
		sh.mu.Unlock()
		return err
	}
	sh.mu.Unlock()
	// Settled or made leader just now: the signal is in the channel.
	e.woken(ent, o, <-o.wake)
	return nil
}

func (e *Engine) woken(ent *entry, o *op, s signal) {
	if s == sigLead {
		e.lead(ent, o)
	}
}

// leader is the state of one goroutine leading a scope's commits.
type leader struct {
	e    *Engine
	ent  *entry
	self *op   // the leading call; settled when lead returns
	ops  []*op // the batch, self included, in handler order
	rec  Record
	have bool   // rec is known
	tick uint64 // clock when the read that returned rec was sent
}

// lead commits batches on ent until self is settled, then hands the scope to
// the next waiting call.
func (e *Engine) lead(ent *entry, self *op) {
	l := &leader{e: e, ent: ent, self: self, ops: []*op{self}}
	ent.shard.mu.Lock()
	l.rec, l.tick, l.have = ent.rec, ent.recTick, ent.cached
	ent.shard.mu.Unlock()
	returned := false
	defer func() {
		if !returned { // a handler called runtime.Goexit: hand the scope on
			l.abdicate(errGoexit)
		}
	}()
	l.run()
	returned = true
}

// errGoexit settles a leading call whose handler called runtime.Goexit.
var errGoexit = errors.New("scoped: the handler called runtime.Goexit")

func (l *leader) run() {
	ctx, name, store := l.self.ctx, l.ent.name, l.e.store
	conflicts := 0
	for {
		if err := ctx.Err(); err != nil {
			l.abdicate(contextError(name, err))
			return
		}
		readAt := l.gather()
		if !l.have {
			l.e.counters.loads.Add(1)
			rec, err := store.Load(ctx, name)
			if err != nil {
				if ctx.Err() != nil {
					l.abdicate(contextError(name, ctx.Err()))
				} else {
					l.settleAll(fmt.Errorf("scoped: load scope %q: %w", truncate(name), err))
				}
				return
			}
			l.rec, l.tick, l.have = rec, readAt, true
		}
		final := l.apply()
		if bytes.Equal(final, l.rec.Value) && (final == nil) == (l.rec.Value == nil) {
			if l.current() {
				l.settle(l.rec, l.tick)
				return
			}
			l.have = false // a read must not go back in time: read again
			continue
		}
		if !l.seal() {
			continue // a call left the batch: run the handlers again without it
		}
		token := NewToken()
		cur, ok, err := l.write(ctx, final, token)
		if err != nil {
			if errors.Is(err, ErrValueTooLarge) {
				l.settleAll(fmt.Errorf("scoped: write scope %q: %w", truncate(name), err))
				return
			}
			if ctx.Err() != nil {
				l.resolveDetached(final, token, err)
				return
			}
			if cur, ok, err = l.resolve(ctx, final, token, err); err != nil {
				l.settleAll(err)
				return
			}
		}
		if ok || cur.Writer == token {
			// A conflict with our own token: the client re-sent a write
			// that had been applied, and the second copy lost to the first.
			l.settle(cur, readAt)
			return
		}
		l.rec, l.tick = cur, readAt
		l.e.counters.conflicts.Add(1)
		conflicts++
		if !l.unseal() {
			return
		}
		// The record the conflict returned is fresh: the first retry uses it
		// at once. After a second conflict in a row, wait, and then read
		// again, since a record kept through the wait would be stale against
		// a writer that commits faster than the wait.
		if conflicts > 1 {
			if err := l.e.opts.backoff(ctx, conflicts-1); err != nil {
				l.abdicate(contextError(name, err))
				return
			}
			l.have = false
		}
	}
}

// gather moves the queued calls into the batch, drops the calls that left,
// and returns the clock as of now: a read sent after this reflects every
// call of the batch.
func (l *leader) gather() uint64 {
	sh := l.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, o := range l.ent.queue {
		o.state = opBatched
	}
	l.ops = append(l.ops, l.ent.queue...)
	clear(l.ent.queue)
	l.ent.queue = l.ent.queue[:0]
	l.ops = slices.DeleteFunc(l.ops, func(o *op) bool { return o.state == opAbandoned })
	return l.ent.clock
}

// apply runs every handler of the batch on the base record and returns the
// resulting encoding. If that is over the size limit, it runs them again,
// refusing each change that would make the value too large.
func (l *leader) apply() []byte {
	limit := l.e.opts.maxValueSize
	w := &working{name: l.ent.name, blob: l.rec.Value}
	for _, o := range l.ops {
		o.run(w, false, limit)
	}
	if final := w.bytes(); len(final) <= limit {
		return final
	}
	w = &working{name: l.ent.name, blob: l.rec.Value}
	for _, o := range l.ops {
		o.run(w, true, limit)
	}
	return w.bytes() // within the limit, or the base record unchanged
}

// current reports whether rec was read after every call of the batch
// arrived, so that it may be returned as the current state.
func (l *leader) current() bool {
	for _, o := range l.ops {
		if o.arrival >= l.tick {
			return false
		}
	}
	return true
}

// seal marks the batch as in flight. It returns false, changing nothing, if
// a call left since the handlers ran.
func (l *leader) seal() bool {
	sh := l.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, o := range l.ops {
		if o.state == opAbandoned {
			l.ops = slices.DeleteFunc(l.ops, func(o *op) bool { return o.state == opAbandoned })
			return false
		}
	}
	for _, o := range l.ops {
		o.state = opInFlight
	}
	return true
}

// write commits final over l.rec: a compare-and-set, or a delete when the
// scope ends up absent.
func (l *leader) write(ctx context.Context, final []byte, token Token) (Record, bool, error) {
	l.e.counters.writes.Add(1)
	if final == nil {
		return l.e.store.Delete(ctx, l.ent.name, l.rec.Revision())
	}
	return l.e.store.CompareAndSet(ctx, l.ent.name, l.rec.Revision(), final, token)
}

// resolve learns the outcome of the write of final with token, whose reply
// failed with cause, by sending the same write again. A Load would not do: a
// write the client gave up on may still be applied later by the server (one
// waiting for a lock, one still in a socket buffer), after a Load found it
// absent. The second copy fences the first: whichever applies, the other
// finds the version moved and is refused.
//
// It returns the committed record and true; or the current record and false
// when the write is known not to be applied, and never will be; or an error
// matching ErrCommitUnknown.
func (l *leader) resolve(ctx context.Context, final []byte, token Token, cause error) (Record, bool, error) {
	name := l.ent.name
	cur, ok, err := l.write(ctx, final, token)
	// Every copy is fenced the same way, so a copy whose reply was lost
	// too may be followed by another (over a dead pooled connection, say).
	for try := 1; err != nil && try < resolveTries && ctx.Err() == nil; try++ {
		cur, ok, err = l.write(ctx, final, token)
	}
	switch {
	case err != nil:
		return Record{}, false, commitUnknown(name, errors.Join(cause, err))
	case ok || cur.Writer == token:
		return cur, true, nil
	case cur.Version == l.rec.Version+1:
		return cur, false, nil // another writer took the version ours needed
	default: // others wrote since: ours may be under theirs, or may be lost
		return Record{}, false, commitUnknown(name, cause)
	}
}

// resolveDetached settles self, whose context ended while its batch's write
// was in flight, and learns the outcome for the rest of the batch in the
// background, keeping the lead until it knows.
func (l *leader) resolveDetached(final []byte, token Token, cause error) {
	name := l.ent.name
	l.self.err = commitUnknown(name, contextError(name, l.self.ctx.Err()))
	l.ops = slices.DeleteFunc(l.ops, func(o *op) bool { return o == l.self })
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.self.ctx), resolveTimeout)
	go func() {
		defer cancel()
		cur, ok, err := l.resolve(ctx, final, token, cause)
		switch {
		case err != nil:
			l.settleAll(err)
		case ok:
			l.settle(cur, 0)
		default:
			l.rec, l.tick, l.have = cur, 0, true
			l.abdicate(nil)
		}
	}()
}

// unseal takes the batch back after a conflict: each call counts an attempt,
// and calls at the attempt limit are settled with a ConflictError. It
// returns false if that settled self, having handed the scope on.
func (l *leader) unseal() bool {
	sh := l.ent.shard
	sh.mu.Lock()
	limit := l.e.opts.maxAttempts
	selfOut := false
	l.ops = slices.DeleteFunc(l.ops, func(o *op) bool {
		if o.state == opAbandoned {
			return true
		}
		o.state = opBatched
		o.attempts++
		if o.attempts < limit {
			l.e.counters.retries.Add(1)
			return false
		}
		o.err, o.panicked = &ConflictError{Scope: l.ent.name, Attempts: o.attempts}, false
		if o == l.self {
			selfOut = true
		} else {
			l.signal(o, sigDone)
		}
		return true
	})
	sh.mu.Unlock()
	if selfOut {
		l.abdicate(l.self.err)
	}
	return !selfOut
}

// settle ends the batch at rec, read at tick: every call gets the outcome
// its handler produced.
func (l *leader) settle(rec Record, tick uint64) {
	sh := l.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	l.ent.remember(rec, tick)
	for _, o := range l.ops {
		l.signal(o, sigDone)
	}
	l.handOff()
}

// settleAll ends the batch with err for every call.
func (l *leader) settleAll(err error) {
	for _, o := range l.ops {
		o.err, o.panicked = err, false
	}
	sh := l.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, o := range l.ops {
		l.signal(o, sigDone)
	}
	l.handOff()
}

// abdicate settles self with err (nil when self is already settled) and
// returns the rest of the batch to the head of the queue.
func (l *leader) abdicate(err error) {
	if err != nil {
		l.self.err, l.self.panicked = err, false
	}
	sh := l.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if l.have {
		l.ent.remember(l.rec, l.tick)
	}
	var back []*op
	for _, o := range l.ops {
		if o != l.self && o.state != opAbandoned {
			o.state = opQueued
			back = append(back, o)
		}
	}
	l.ent.queue = append(back, l.ent.queue...)
	l.handOff()
}

// signal settles o or makes it lead, unless it is self or left. The caller
// holds the shard's mutex.
func (l *leader) signal(o *op, s signal) {
	if o == l.self || o.state == opAbandoned {
		return
	}
	if s == sigDone {
		o.state = opDone
	} else {
		o.state = opLeading
	}
	o.wake <- s
}

// handOff passes the lead to the first queued call, or leaves the scope
// idle. The caller holds the shard's mutex.
func (l *leader) handOff() {
	ent := l.ent
	if len(ent.queue) > 0 {
		next := ent.queue[0]
		ent.queue[0] = nil
		ent.queue = ent.queue[1:]
		l.signal(next, sigLead)
		return
	}
	ent.leading = false
	ent.shard.settle(ent)
}

func contextError(name string, err error) error {
	return fmt.Errorf("scoped: scope %q: %w", truncate(name), err)
}

func commitUnknown(name string, cause error) error {
	return fmt.Errorf("%w: scope %q: %w", ErrCommitUnknown, truncate(name), cause)
}
