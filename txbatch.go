package scoped

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
)

// Group commit of Transacts. A Transact that has claimed its scopes owns
// them, and commits its call alone in the caller's goroutine (commitTxSolo).
// When it is done, it looks at the claims queued on its scopes: a claim at
// the head of a queue that is the first of its Transact's (which then owns
// nothing) is taken in, with the rest of that Transact's scopes if they
// are owned already or idle. The calls taken in form a batch that a
// goroutine of the engine commits (txBatch.loop): their handlers run one
// after another on one working value per scope, and one CompareAndSetMany
// over the union of their scopes commits them all. The batch then takes in
// the claims queued meanwhile, and so on, until none is left at the head of
// a queue; then it releases its scopes. Callers only wait.
//
// Invariants:
//   - A txCall's state, batch and membership of a batch are guarded by
//     e.txmu, taken inside a shard's mutex where both are held.
//   - Only calls in state opBatched go into a write (seal).
//   - The batch alone writes its calls' outcomes, and closes a call's done
//     exactly once (settle), only for a call whose caller still waits.

// txCall is one Transact call.
type txCall struct {
	ctx   context.Context
	names []string // sorted
	fn    func(*Tx) error
	call  callOptions
	done  chan struct{}

	// Guarded by e.txmu.
	state opState
	batch *txBatch

	// Written by whoever commits the call, read by the caller after done.
	attempts int
	err      error
	panicked *PanicError
	goexit   bool
}

// outcome returns the call's error in its caller's goroutine, re-raises its
// handler's panic there, or ends that goroutine if the handler called
// runtime.Goexit.
func (t *txCall) outcome() error {
	switch {
	case t.goexit:
		runtime.Goexit()
	case t.panicked != nil:
		panic(t.panicked)
	}
	return t.err
}

// txScope is one scope a batch owns.
type txScope struct {
	ent  *entry
	rec  Record
	have bool // rec is known
	w    *working
}

// txBatch is the Transact calls one owner of their scopes commits
// together.
type txBatch struct {
	e      *Engine
	scopes map[string]*txScope // every scope owned
	calls  []*txCall           // in handler order
	solo   bool                // the one call is its caller's, committed in its goroutine
	single bool                // the store refused the union: commit one call at a time
	last   bool                // a call or claim waits on a scope it cannot take: release after this batch
	ctx    context.Context     // the store calls' context when the batch has several calls
	cancel context.CancelFunc
	streak int // failed attempts in a row
}

// commitTxSolo commits t, owning the entries owned, in the caller's
// goroutine, then hands the scopes to a batch of the Transacts queued on
// them, or releases them.
func (e *Engine) commitTxSolo(t *txCall, owned []*entry) error {
	b := &txBatch{e: e, scopes: make(map[string]*txScope, len(owned)), calls: []*txCall{t}, solo: true}
	for _, ent := range owned {
		b.own(ent)
	}
	t.state, t.batch = opBatched, b
	finished := false
	defer func() {
		if !finished { // fn called runtime.Goexit: its caller's goroutine ends
			b.release()
		}
	}()
	b.commit()
	finished = true
	b.handOn()
	return t.outcome()
}

// own adds ent, owned, to the batch's scopes, with its cached record.
func (b *txBatch) own(ent *entry) {
	sh := ent.shard
	sh.mu.Lock()
	ts := &txScope{ent: ent, rec: ent.rec, have: ent.cached}
	sh.mu.Unlock()
	b.scopes[ent.name] = ts
}

// handOn turns a finished solo batch into a batch of the Transacts queued
// on its scopes, committed by a goroutine of the engine, or releases the
// scopes if there are none.
func (b *txBatch) handOn() {
	b.solo = false
	if !b.absorb() {
		b.release()
		return
	}
	b.e.hold()
	go b.loop()
}

// loop commits batch after batch until no Transact is queued at the head of
// its scopes' queues, then releases them.
func (b *txBatch) loop() {
	finished := false
	defer func() {
		if !finished { // a handler called runtime.Goexit: go on in a new goroutine
			b.goexited()
		}
		b.e.leave()
	}()
	for {
		b.commit()
		b.cancel()
		if b.last || !b.absorb() {
			finished = true
			b.release()
			return
		}
	}
}

// goexited settles the call whose handler called runtime.Goexit, on the
// batch's goroutine, and hands the rest of the batch to a new goroutine.
func (b *txBatch) goexited() {
	b.e.txmu.Lock()
	for _, t := range b.calls {
		if t.goexit {
			b.done(t)
		}
	}
	b.e.txmu.Unlock()
	b.e.hold()
	go b.loop()
}

// absorb takes into the batch the Transacts whose first claim heads the
// queue of a scope it owns, when it owns or can take each of their other
// scopes, up to the batch bound. It reports whether it took any. If a call
// or claim it cannot take waits on one of its scopes, this batch is the
// last: the scopes are released after it, so that nothing waits for ever.
func (b *txBatch) absorb() bool {
	b.calls = nil
	for _, name := range slices.Sorted(maps.Keys(b.scopes)) {
		for len(b.calls) < b.e.opts.maxBatchCalls && b.absorbHead(b.scopes[name].ent) {
		}
	}
	b.last = false
	for _, ts := range b.scopes {
		sh := ts.ent.shard
		sh.mu.Lock()
		b.last = b.last || len(ts.ent.queue) > 0
		sh.mu.Unlock()
	}
	if len(b.calls) == 0 {
		return false
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.single, b.streak = false, 0
	return true
}

// absorbHead takes in the Transact whose first claim heads ent's queue, if
// it can. It reports whether it did.
func (b *txBatch) absorbHead(ent *entry) bool {
	sh := ent.shard
	sh.mu.Lock()
	if len(ent.queue) == 0 || !ent.queue[0].claim || !ent.queue[0].first {
		sh.mu.Unlock()
		return false
	}
	c := ent.queue[0]
	sh.mu.Unlock()
	for _, name := range c.tx.names {
		if b.scopes[name] != nil {
			continue
		}
		other, ok := b.e.tryClaim(name)
		if !ok {
			return false
		}
		b.own(other)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(ent.queue) == 0 || ent.queue[0] != c || c.state != opQueued {
		return false // its caller left meanwhile
	}
	t := c.tx
	b.e.txmu.Lock()
	t.state, t.batch = opBatched, b
	b.calls = append(b.calls, t)
	b.e.txmu.Unlock()
	ent.queue = ent.queue[1:]
	c.state, c.joined = opDone, true
	close(c.done)
	return true
}

// release caches the records the batch knows and gives its scopes back.
func (b *txBatch) release() {
	for _, ts := range b.scopes {
		if ts.have {
			sh := ts.ent.shard
			sh.mu.Lock()
			ts.ent.remember(ts.rec, ts.ent.clock)
			sh.mu.Unlock()
		}
		b.e.unclaim(ts.ent)
	}
	b.scopes = nil
}

// commit runs the batch until every call in it is settled or has left.
func (b *txBatch) commit() {
	for {
		calls := b.live()
		if len(calls) == 0 {
			return
		}
		if b.single {
			calls = calls[:1]
		}
		if !b.load(calls) {
			continue
		}
		changes := b.apply(calls)
		if !slices.ContainsFunc(calls, func(t *txCall) bool { return t.err == nil && t.panicked == nil }) {
			b.settle(calls, nil, nil) // every handler failed: nothing to write
			continue
		}
		if !b.seal(calls) {
			continue // a caller left since its handler ran: run the others again
		}
		cur, ok, err := b.write(calls, changes)
		switch {
		case err == nil && ok:
			b.settle(calls, changes, cur)
		case err == nil:
			b.e.counters.conflicts.Add(1)
			b.takeRecords(changes, cur)
			b.failed(calls, errConflict, b.streak > 0)
		case errors.Is(err, ErrNotColocated) && len(calls) > 1:
			b.single = true // each call alone, as its own Transact would be
			b.unseal(calls)
		case dataError(err):
			b.settleAll(calls, writeError(changes[0].Name, err))
		case retryable(err):
			b.failed(calls, writeError(changes[0].Name, err), true)
		default:
			b.resolve(calls, changes, err)
		}
	}
}

// live returns the calls still waiting for their outcome.
func (b *txBatch) live() []*txCall {
	b.e.txmu.Lock()
	defer b.e.txmu.Unlock()
	b.calls = slices.DeleteFunc(b.calls, func(t *txCall) bool { return t.state == opAbandoned || t.state == opDone })
	return slices.Clone(b.calls)
}

// load reads the records of the scopes of calls the batch does not know,
// concurrently. It reports whether it has them all; if not, it has counted
// a failed attempt or settled the calls.
func (b *txBatch) load(calls []*txCall) bool {
	var missing []*txScope
	for _, name := range unionNames(calls) {
		if ts := b.scopes[name]; !ts.have {
			missing = append(missing, ts)
		}
	}
	errs := make([]error, len(missing))
	var wg sync.WaitGroup
	ctx := b.storeCtx(calls)
	for i, ts := range missing {
		wg.Go(func() {
			b.e.counters.loads.Add(1)
			start := b.e.storeStart()
			ts.rec, errs[i] = b.e.store.Load(ctx, ts.ent.name)
			b.e.storeDone(ctx, ts.ent.name, StoreLoad, start, true, errs[i])
			ts.have = errs[i] == nil
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case err == nil:
		case dataError(err):
			b.settleAll(calls, loadError(missing[i].ent.name, err))
			return false
		default:
			b.failed(calls, loadError(missing[i].ent.name, err), true)
			return false
		}
	}
	return true
}

// unionNames returns the sorted names of the scopes of calls.
func unionNames(calls []*txCall) []string {
	var names []string
	for _, t := range calls {
		names = append(names, t.names...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// apply runs the calls' handlers one after another on the base records and
// returns the changes to commit over the union of their scopes.
func (b *txBatch) apply(calls []*txCall) []Change {
	names := unionNames(calls)
	for _, name := range names {
		ts := b.scopes[name]
		ts.w = &working{name: name, blob: ts.rec.Value, expires: ts.rec.ExpiresAt}
	}
	for _, t := range calls {
		b.run(t)
	}
	changes := make([]Change, len(names))
	for i, name := range names {
		ts := b.scopes[name]
		final := Write{Value: ts.w.bytes(), ExpiresAt: ts.w.expires}
		c := Change{Name: name, Expected: ts.rec.Revision()}
		switch {
		case final.same(ts.rec):
			c.Action = ActionCheck
		case final.Value == nil:
			c.Action = ActionDelete
		default:
			final.Writer = NewToken()
			c.Action, c.Write = ActionSet, final
		}
		changes[i] = c
	}
	return changes
}

// run applies t's handler to the batch's working values. A handler that
// fails, panics, calls runtime.Goexit or makes a value too large leaves
// them as they were; its expiry option applies to the scopes it changed.
func (b *txBatch) run(t *txCall) {
	t.err, t.panicked = nil, nil
	tx := &Tx{views: make(map[string]*txView, len(t.names))}
	cps := make([]checkpoint, len(t.names))
	before := make([][]byte, len(t.names))
	for i, name := range t.names {
		w := b.scopes[name].w
		tx.views[name] = &txView{w: w}
		before[i], cps[i] = w.bytes(), w.checkpoint()
	}
	rollback := func() {
		for i, name := range t.names {
			b.scopes[name].w.rollback(cps[i])
		}
	}
	returned := false
	defer func() {
		if returned {
			return
		}
		if p := recover(); p != nil {
			t.panicked = &PanicError{Value: p, Stack: debug.Stack()}
		} else {
			t.goexit = true
		}
		rollback()
	}()
	err := t.fn(tx)
	returned = true
	for _, name := range t.names {
		if v := tx.views[name]; err == nil && v.encode != nil {
			err = v.encode()
		}
	}
	if err != nil {
		t.err = err
		rollback()
		return
	}
	for i, name := range t.names {
		w := b.scopes[name].w
		after := w.bytes()
		if bytes.Equal(after, before[i]) && (after == nil) == (before[i] == nil) {
			continue
		}
		if len(after) > b.e.opts.maxValueSize {
			t.err = &ValueTooLargeError{Scope: name, Size: len(after), Limit: b.e.opts.maxValueSize}
			rollback()
			return
		}
		t.call.apply(w, b.e.opts.now) // the expiry of the scopes it changes
	}
}

// seal marks calls as in flight. It returns false, changing nothing, if one
// of them left since the handlers ran.
func (b *txBatch) seal(calls []*txCall) bool {
	b.e.txmu.Lock()
	defer b.e.txmu.Unlock()
	for _, t := range calls {
		if t.state == opAbandoned {
			return false
		}
	}
	for _, t := range calls {
		t.state = opInFlight
	}
	return true
}

// unseal takes calls back from a write that was not performed.
func (b *txBatch) unseal(calls []*txCall) {
	b.e.txmu.Lock()
	defer b.e.txmu.Unlock()
	for _, t := range calls {
		if t.state == opInFlight {
			t.state = opBatched
		}
	}
}

// storeCtx is the context of the store calls for calls: a solo call's
// own, or the batch's, which ends once every caller left.
func (b *txBatch) storeCtx(calls []*txCall) context.Context {
	if b.solo {
		return calls[0].ctx
	}
	return b.ctx
}

// write sends changes in one CompareAndSetMany.
func (b *txBatch) write(calls []*txCall, changes []Change) ([]Record, bool, error) {
	b.e.counters.writes.Add(1)
	ctx, start := b.storeCtx(calls), b.e.storeStart()
	cur, ok, err := b.e.store.CompareAndSetMany(ctx, changes)
	b.e.storeDone(ctx, changes[0].Name, StoreCompareAndSetMany, start, ok, err)
	if err == nil && len(cur) != len(changes) {
		err = fmt.Errorf("scoped: the store answered %d records for %d scopes", len(cur), len(changes))
	}
	return cur, ok, err
}

// takeRecords takes the records a write returned as the base records of
// the scopes of changes.
func (b *txBatch) takeRecords(changes []Change, cur []Record) {
	for i, c := range changes {
		ts := b.scopes[c.Name]
		ts.rec, ts.have = cur[i], true
	}
}

// settle ends calls whose changes were written, or found current: each
// gets the outcome its handler produced.
func (b *txBatch) settle(calls []*txCall, changes []Change, cur []Record) {
	b.takeRecords(changes, cur)
	b.streak = 0
	b.e.txmu.Lock()
	defer b.e.txmu.Unlock()
	for _, t := range calls {
		b.done(t)
	}
}

// settleAll ends calls with err.
func (b *txBatch) settleAll(calls []*txCall, err error) {
	b.e.txmu.Lock()
	defer b.e.txmu.Unlock()
	for _, t := range calls {
		if t.state != opAbandoned {
			t.err, t.panicked = err, nil
			b.done(t)
		}
	}
}

// done settles t unless its caller left. The caller holds e.txmu.
func (b *txBatch) done(t *txCall) {
	if t.state == opAbandoned || t.state == opDone {
		return
	}
	t.state, t.batch = opDone, nil
	close(t.done)
	b.leave()
}

// leave cancels the batch's store calls once none of its callers waits.
// The caller holds e.txmu.
func (b *txBatch) leave() {
	if b.solo || b.cancel == nil {
		return
	}
	for _, t := range b.calls {
		if t.state != opAbandoned && t.state != opDone {
			return
		}
	}
	b.cancel()
}

// failed counts a failed attempt against calls: those whose context ended
// are settled as not applied, those at the attempt limit with err, the
// others go on, after a wait if wait is set.
func (b *txBatch) failed(calls []*txCall, err error, wait bool) {
	b.streak++
	b.e.txmu.Lock()
	for _, t := range calls {
		if t.state == opAbandoned {
			continue
		}
		t.state = opBatched
		if cause := t.ctx.Err(); cause != nil {
			t.err, t.panicked = notSent(t.names[0], cause), nil
			b.done(t)
			continue
		}
		if t.attempts++; t.attempts < b.e.opts.maxAttempts {
			b.e.counters.retries.Add(1)
			continue
		}
		t.err, t.panicked = err, nil
		if err == errConflict {
			t.err = &ConflictError{Scope: t.names[0], Attempts: t.attempts}
		}
		b.done(t)
	}
	b.e.txmu.Unlock()
	if wait {
		b.e.opts.backoff(b.storeCtx(calls), b.streak)
		for _, ts := range b.scopes {
			ts.have = false // records kept through the wait would be stale
		}
	}
}

// resolve learns the outcome of a write of changes that failed with cause,
// which does not say whether it was performed, as a single scope's resolve
// does: it sends the same write again, or, if it creates a scope, looks for
// its tokens. The write was performed if a copy is, or if a scope it sets
// holds its token.
func (b *txBatch) resolve(calls []*txCall, changes []Change, cause error) {
	create := slices.ContainsFunc(changes, func(c Change) bool { return c.Action != ActionCheck && c.Expected.IsZero() })
	ctx := b.storeCtx(calls)
	for try := 1; try <= resolveTries; try++ {
		if b.e.opts.backoff(ctx, try) != nil {
			break
		}
		var (
			cur []Record
			ok  bool
			err error
		)
		if create {
			cur = make([]Record, len(changes))
			for i, c := range changes {
				b.e.counters.loads.Add(1)
				if cur[i], err = b.e.store.Load(ctx, c.Name); err != nil {
					break
				}
			}
		} else {
			cur, ok, err = b.write(calls, changes)
		}
		if err != nil {
			continue
		}
		if ok || wroteAny(changes, cur) {
			b.settle(calls, changes, cur)
			return
		}
		break
	}
	b.e.counters.unknown.Add(1)
	for _, c := range changes {
		ts := b.scopes[c.Name]
		ts.have = false
		sh := ts.ent.shard
		sh.mu.Lock()
		ts.ent.forget()
		sh.mu.Unlock()
	}
	b.settleAll(calls, &CommitUnknownError{Scope: changes[0].Name, Cause: cause})
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

// await waits for the outcome of t, which a batch took in, or for its
// context to end.
func (e *Engine) await(t *txCall) error {
	select {
	case <-t.done:
		return t.outcome()
	case <-t.ctx.Done():
	}
	e.txmu.Lock()
	var err error
	switch t.state {
	case opDone:
		e.txmu.Unlock()
		return t.outcome()
	case opInFlight:
		err = &CommitUnknownError{Scope: t.names[0], Cause: t.ctx.Err()}
	default:
		err = notSent(t.names[0], t.ctx.Err())
	}
	t.state = opAbandoned
	if b := t.batch; b != nil {
		b.leave()
	}
	e.txmu.Unlock()
	return err
}
