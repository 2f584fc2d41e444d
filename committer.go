package scoped

import (
	"context"
	"slices"
)

// The committer of a scope: a goroutine started when a call finds no
// committer running for its scope, taking batch after batch from the queue
// until it is empty. It runs the handlers, so callers only wait. This file
// holds how calls pass between the queue, a batch and their outcome.

// startCommitter starts the committer of ent, whose busy flag the caller
// has set. The caller holds the shard's mutex.
func (e *Engine) startCommitter(ent *entry) {
	e.hold()
	go e.runCommitter(ent)
}

// runCommitter commits batches on ent until its queue is empty.
func (e *Engine) runCommitter(ent *entry) {
	var b *batch
	defer func() {
		// With a batch still open here, a handler called runtime.Goexit,
		// which is ending this goroutine: hand the batch to a new committer.
		if b != nil {
			b.goexited()
		}
		e.leave()
	}()
	for {
		if b = e.nextBatch(ent); b == nil {
			return
		}
		b.commit()
		b.cancel()
	}
}

// soloBatch opens a batch of o alone, for its caller to commit, which has
// set ent.busy. The caller holds the shard's mutex.
func (e *Engine) soloBatch(ent *entry, o *op) *batch {
	b := &batch{
		e: e, ent: ent, ctx: o.ctx, cancel: func() {}, solo: true,
		ops: []*op{o}, rec: ent.rec, read: ent.read, have: ent.cached,
		limit: e.opts.maxValueSize,
	}
	o.state, o.batch = opBatched, b
	return b
}

// commitSolo commits a solo batch in its caller's goroutine, then hands the
// scope to a committer if calls queued meanwhile, or leaves it idle. It
// returns false if the call was not settled but handed over with them: a
// solo batch that needs another attempt while calls wait joins them, so that
// they are committed together.
func (e *Engine) commitSolo(b *batch) (settled bool) {
	o := b.ops[0]
	finished := false
	defer func() {
		if !finished { // the handler called runtime.Goexit: so does its caller
			b.goexited()
		}
	}()
	b.commit()
	finished = true
	sh := b.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch {
	case len(b.ent.queue) > 0:
		e.startCommitter(b.ent) // busy stays set
	default:
		b.ent.busy = false
		sh.release(b.ent)
	}
	return o.state == opDone
}

// nextBatch opens a batch for the calls queued on ent. It returns nil if
// there are none, marking ent idle, or if a claim heads the queue, handing
// ent to it.
func (e *Engine) nextBatch(ent *entry) *batch {
	sh := ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(ent.queue) == 0 {
		ent.busy = false
		sh.release(ent)
		return nil
	}
	if c := ent.queue[0]; c.claim {
		e.grantClaim(ent, c)
		return nil
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ent.queue[0].ctx))
	return &batch{
		e: e, ent: ent, ctx: ctx, cancel: cancel,
		rec: ent.rec, read: ent.read, have: ent.cached,
		limit: e.opts.maxValueSize,
	}
}

// gather takes queued calls into the batch, up to the batch bound or the
// first claim, and drops the calls that left. It returns false when the batch holds no call. A solo
// batch takes none: when it needs another attempt while calls are queued, its
// call goes back to the head of the queue, to be committed with them.
func (b *batch) gather() bool {
	sh := b.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if b.solo {
		if len(b.ops) > 0 && b.tried && len(b.ent.queue) > 0 {
			o := b.ops[0]
			o.state, o.batch = opQueued, nil
			b.ent.queue = slices.Insert(b.ent.queue, 0, o)
			if b.have {
				b.ent.remember(b.rec, b.read)
			}
			b.ops = nil
		}
		b.tried = true
		b.gathered = b.ent.clock
		return len(b.ops) > 0
	}
	b.ops = slices.DeleteFunc(b.ops, func(o *op) bool { return o.state == opAbandoned })
	room := b.e.opts.batchBound(len(b.rec.Value)) - len(b.ops)
	calls := slices.IndexFunc(b.ent.queue, func(o *op) bool { return o.claim })
	if calls < 0 {
		calls = len(b.ent.queue)
	}
	if n := min(room, calls); n > 0 {
		for _, o := range b.ent.queue[:n] {
			o.state, o.batch = opBatched, b
			b.ops = append(b.ops, o)
		}
		clear(b.ent.queue[:n])
		b.ent.queue = b.ent.queue[n:]
	}
	b.gathered = b.ent.clock
	return len(b.ops) > 0
}

// seal marks the batch as in flight. It returns false, changing nothing, if
// a call left since the handlers ran.
func (b *batch) seal() bool {
	sh := b.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, o := range b.ops {
		if o.state == opAbandoned {
			return false
		}
	}
	for _, o := range b.ops {
		o.state = opInFlight
		o.writes++
	}
	b.alone = len(b.ops) == 1
	return true
}

// unseal takes the batch back from a write that was not performed, without
// counting an attempt.
func (b *batch) unseal() {
	sh := b.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, o := range b.ops {
		if o.state == opInFlight {
			o.state = opBatched
		}
	}
}

// leave notes that a caller of the batch gave up; once none waits, the
// batch's store calls are cancelled. The caller holds the shard's mutex.
func (b *batch) leave() {
	for _, o := range b.ops {
		if o.state != opAbandoned && o.state != opDone {
			return
		}
	}
	b.cancel()
}

// settle ends the batch at rec, which it wrote or found current: every
// call gets the outcome its handler produced, and rec is cached.
func (b *batch) settle(rec Record, wrote bool) {
	sh := b.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b.ent.remember(rec, b.read)
	for _, o := range b.ops {
		o.wrote = wrote && o.err == nil && o.panicked == nil
		b.done(o)
	}
	b.ops = nil
}

// settleAll ends the batch with err for every call.
func (b *batch) settleAll(err error) {
	sh := b.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, o := range b.ops {
		if o.state != opAbandoned {
			o.err, o.panicked = err, nil
			b.done(o)
		}
	}
	b.ops = nil
}

// done settles o unless its caller left. The caller holds the shard's
// mutex.
func (b *batch) done(o *op) {
	if o.state == opAbandoned || o.state == opDone {
		return
	}
	o.state, o.batch, o.batched = opDone, nil, len(b.ops)
	close(o.done)
}

// goexited hands the batch on after a handler called runtime.Goexit on the
// committer's goroutine: that call is settled (its caller exits in turn),
// the others go back to the head of the queue, and a new committer takes
// them.
func (b *batch) goexited() {
	sh := b.ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var back []*op
	for _, o := range b.ops {
		switch {
		case o.goexit:
			b.done(o)
		case o.state != opAbandoned && o.state != opDone:
			o.state, o.batch = opQueued, nil
			back = append(back, o)
		}
	}
	b.ops = nil
	b.cancel()
	if b.have {
		b.ent.remember(b.rec, b.read)
	}
	b.ent.queue = append(back, b.ent.queue...)
	b.e.startCommitter(b.ent) // busy stays set
}
