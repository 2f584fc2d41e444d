package scoped

import (
	"bytes"
	"context"
	"errors"
)

// Group commit. Each scope with calls queued has one committer goroutine
// (committer.go). It takes the queued calls into a batch, runs their
// handlers one after another on one working value, and commits the result
// with a single compare-and-set. Calls that arrive meanwhile queue up and
// form the next batch. A conflicting write re-runs the batch on the record
// the store returned. The order of the handlers in a batch is the order of
// the commits: the history is serializable.
//
// Invariants:
//   - One committer per entry: entry.busy is set by whoever starts it, and
//     cleared only by the committer itself when it finds the queue empty.
//   - The committer alone writes a batch's fields (under the shard's mutex
//     for ops and op states, which callers read when they leave) and the
//     outcome fields of its ops; a caller reads its op's outcome only after
//     done is closed.
//   - An op's done channel is closed exactly once, by settle, under the
//     shard's mutex, and only for an op its caller still waits for: nothing
//     ever blocks on a send to a caller.
//   - Only ops in state opBatched go into a write (seal), so a caller that
//     left before its change was sent can never see it committed later.
//   - A batch holds at most one bound's worth of calls (WithMaxBatch), so a
//     conflict never re-runs more handlers than that.

// batch is the calls one committer commits together, and what it knows of
// their scope.
type batch struct {
	e   *Engine
	ent *entry
	ops []*op // in handler order; changed under the shard's mutex

	// ctx carries the first call's values to the store and is cancelled
	// once every caller of the batch has left.
	ctx    context.Context
	cancel context.CancelFunc
	alone  bool // one call in the write in flight: sent with its own context
	solo   bool // committed by its one call's own goroutine, taking no others
	tried  bool // a solo batch made an attempt

	rec      Record // the base record the handlers run on, when have
	have     bool
	read     tick // rec's stamp
	gathered tick // the clock when the batch last took calls in
	limit    int  // the largest value to write: the engine's, or the store's if lower
	streak   int  // failed attempts in a row
}

// commit runs the batch until every call in it is settled or has left.
func (b *batch) commit() {
	for b.gather() {
		if !b.have && !b.load() {
			continue
		}
		final := b.apply()
		if final.same(b.rec) {
			if b.current() || b.confirm() {
				b.settle(b.rec, false)
				return
			}
			continue
		}
		if !b.seal() {
			continue // a call left since its handler ran: run the rest again
		}
		final.Writer = NewToken()
		cur, ok, err := b.write(final)
		var tooLarge *ValueTooLargeError
		switch {
		case err == nil && (ok || cur.Writer == final.Writer):
			// A conflict with our own token: the client re-sent a write
			// that had been applied, and the second copy lost to the first.
			b.read = b.gathered // the write was sent after every call arrived
			b.settle(cur, true)
			return
		case err == nil:
			b.conflict(cur)
		case errors.As(err, &tooLarge) && tooLarge.Limit > 0 && tooLarge.Limit < b.limit:
			b.limit = tooLarge.Limit // run again, refusing each change over the store's limit
			b.unseal()
		case dataError(err): // refused for what the scope holds or the value is: no retry helps
			b.settleAll(writeError(b.ent.name, err))
			return
		case retryable(err):
			b.failed(writeError(b.ent.name, err), true)
		default:
			b.resolve(final, err)
			return
		}
	}
}

// load reads the base record. It reports whether it has one; if not, it
// has settled the calls or counted a failed attempt.
func (b *batch) load() bool {
	rec, err := b.loadRecord()
	switch {
	case err == nil:
		b.rec, b.have, b.read = rec, true, b.gathered
		return true
	case dataError(err):
		b.settleAll(loadError(b.ent.name, err))
	default: // a load performs nothing: another may succeed, for the callers still there
		b.failed(loadError(b.ent.name, err), true)
	}
	return false
}

// loadRecord makes the store call that loads the scope's record.
func (b *batch) loadRecord() (Record, error) {
	b.e.counters.loads.Add(1)
	ctx, start := b.storeCtx(), b.e.storeStart()
	rec, err := b.e.store.Load(ctx, b.ent.name)
	b.e.storeDone(ctx, b.ent.name, StoreLoad, start, true, err)
	return rec, err
}

// confirm reads the record again for a batch that changed nothing on a
// record read before some of its calls arrived. If the record is the same,
// the handlers' results stand and it returns true; else the handlers run
// again on the new record.
func (b *batch) confirm() bool {
	sh := b.ent.shard
	sh.mu.Lock()
	at := b.ent.clock
	sh.mu.Unlock()
	was := b.rec.Revision()
	if !b.load() {
		return false
	}
	b.read = at
	return b.rec.Revision() == was
}

// apply runs every handler of the batch on the base record and returns the
// resulting value and expiry, without a writer. If the value is over the
// size limit, it runs them again, refusing each change that would make the
// value too large: only the calls that made it so fail.
func (b *batch) apply() Write {
	w := &working{name: b.ent.name, blob: b.rec.Value, expires: b.rec.ExpiresAt}
	for _, o := range b.ops {
		o.run(w, 0)
	}
	if final := w.bytes(); len(final) <= b.limit {
		return Write{Value: final, ExpiresAt: w.expires}
	}
	w = &working{name: b.ent.name, blob: b.rec.Value, expires: b.rec.ExpiresAt}
	for _, o := range b.ops {
		o.run(w, b.limit)
	}
	// within the limit, or the base record unchanged
	return Write{Value: w.bytes(), ExpiresAt: w.expires}
}

// current reports whether the base record was read after every call of the
// batch arrived, so that it may be returned as the current state.
func (b *batch) current() bool {
	for _, o := range b.ops {
		if o.arrived >= b.read {
			return false
		}
	}
	return true
}

// storeCtx is the context of the batch's store calls: its one call's own,
// or one carrying the first call's values that ends when every caller left.
func (b *batch) storeCtx() context.Context {
	if len(b.ops) == 1 {
		return b.ops[0].ctx
	}
	return b.ctx
}

// write commits final over the base record: a compare-and-set, or a delete
// when the scope ends up without a value.
func (b *batch) write(final Write) (Record, bool, error) {
	b.e.counters.writes.Add(1)
	ctx, start := b.storeCtx(), b.e.storeStart()
	var (
		cur Record
		ok  bool
		err error
	)
	if final.Value == nil {
		cur, ok, err = b.e.store.Delete(ctx, b.ent.name, b.rec.Revision())
		b.e.storeDone(ctx, b.ent.name, StoreDelete, start, ok, err)
	} else {
		cur, ok, err = b.e.store.CompareAndSet(ctx, b.ent.name, b.rec.Revision(), final)
		b.e.storeDone(ctx, b.ent.name, StoreCompareAndSet, start, ok, err)
	}
	return cur, ok, err
}

// conflict takes the current record a refused write returned. The first
// retry uses it at once. After a second conflict in a row, the committer
// waits, and then reads again, since a record kept through the wait would be
// stale against a writer that commits faster than the wait.
func (b *batch) conflict(cur Record) {
	b.e.counters.conflicts.Add(1)
	b.rec, b.read = cur, b.gathered
	b.failed(errConflict, b.streak > 0)
	if b.streak > 1 {
		b.have = false
	}
}

// failed counts a failed attempt against every call of the batch: the calls
// whose context ended are settled as not applied, those at the attempt limit
// with err, the others go on, after a wait if wait is set.
func (b *batch) failed(err error, wait bool) {
	b.streak++
	limit := b.e.opts.maxAttempts
	sh := b.ent.shard
	sh.mu.Lock()
	kept := b.ops[:0]
	for _, o := range b.ops {
		if o.state == opAbandoned {
			continue
		}
		o.state = opBatched
		if err == errConflict {
			o.conflicts++
		}
		if cause := o.ctx.Err(); cause != nil {
			o.err, o.panicked = notSent(b.ent.name, cause), nil
			b.done(o)
			continue
		}
		if o.attempts++; o.attempts < limit {
			b.e.counters.retries.Add(1)
			kept = append(kept, o)
			continue
		}
		o.err, o.panicked = err, nil
		if err == errConflict {
			o.err = &ConflictError{Scope: b.ent.name, Attempts: o.attempts}
		}
		b.done(o)
	}
	clear(b.ops[len(kept):])
	b.ops = kept
	sh.mu.Unlock()
	if wait {
		b.e.opts.backoff(b.ctx, b.streak) // an error means every caller left: gather ends
	}
}

// retryable reports whether a write that failed with err may be tried
// again: the store did not perform it, and the failure is not one of the
// data, which another try would meet again.
func retryable(err error) bool {
	return errors.Is(err, ErrNotApplied) && !dataError(err)
}

// dataError reports whether err is about the data of a call, so that no
// retry can help.
func dataError(err error) bool {
	return errors.Is(err, ErrCorruptValue) || errors.Is(err, ErrInvalidName) || errors.Is(err, ErrValueTooLarge) || errors.Is(err, ErrNotColocated)
}

// errConflict marks a failed attempt as a conflict, for failed.
var errConflict = errors.New("conflict")

// same reports whether w would leave rec as it is: the same value and
// expiry.
func (w Write) same(rec Record) bool {
	return bytes.Equal(w.Value, rec.Value) && (w.Value == nil) == (rec.Value == nil) && w.ExpiresAt.Equal(rec.ExpiresAt)
}
