package scoped

import (
	"context"
	"slices"
)

// Claims. A Transact owns each of its scopes while it commits, in place of
// their committers: it claims them one after another, in name order, and
// releases them when it is done. A claim on an idle scope takes it at once;
// on a busy one it queues like a call, and the scope's committer hands the
// scope over when the claim reaches the head of the queue, instead of taking
// it into a batch. A Transact that owns the scope may instead take the
// claim's whole call into its own batch (see txBatch.absorb), if the claim
// is its call's first, so that the call owns nothing yet. Calls on one
// scope never wait for a second scope while they hold one, claims are
// always taken in the same order, and a batch takes further scopes only if
// they are idle, so no cycle of waits can form.

// claim takes the scope name for t, waiting for the calls queued ahead of
// it, and returns its entry; or it reports that a batch took t in, owning
// nothing. first says that t owns nothing yet. It fails, owning nothing,
// when ctx ends first.
func (e *Engine) claim(ctx context.Context, name string, t *txCall, first bool) (ent *entry, joined bool, err error) {
	sh := e.table.shard(name)
	sh.mu.Lock()
	ent = sh.get(name)
	ent.clock++
	if !ent.busy {
		ent.busy = true
		sh.mu.Unlock()
		return ent, false, nil
	}
	c := &op{ctx: ctx, claim: true, tx: t, first: first, done: make(chan struct{}), state: opQueued}
	ent.queue = append(ent.queue, c)
	sh.mu.Unlock()

	select {
	case <-c.done:
		return ent, c.joined, nil
	case <-ctx.Done():
	}
	sh.mu.Lock()
	settled := c.state == opDone
	if !settled {
		ent.queue = slices.DeleteFunc(ent.queue, func(q *op) bool { return q == c })
		c.state = opAbandoned
		sh.release(ent)
	}
	sh.mu.Unlock()
	switch {
	case settled && c.joined:
		return nil, true, nil // the batch's own context checks end it
	case settled:
		e.unclaim(ent)
	}
	return nil, false, notSent(name, ctx.Err())
}

// tryClaim takes the scope name if it is idle, without waiting.
func (e *Engine) tryClaim(name string) (*entry, bool) {
	sh := e.table.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ent := sh.get(name)
	if ent.busy {
		return nil, false
	}
	ent.clock++
	ent.busy = true
	return ent, true
}

// grantClaim hands ent, whose committer found the claim c at the head of
// its queue, to c's caller: ent stays busy, owned by it. The caller holds
// the shard's mutex.
func (e *Engine) grantClaim(ent *entry, c *op) {
	ent.queue = ent.queue[1:]
	c.state = opDone
	close(c.done)
}

// unclaim releases ent, claimed by claim or tryClaim: the calls queued on it
// meanwhile go to a new committer, else the scope is idle.
func (e *Engine) unclaim(ent *entry) {
	sh := ent.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(ent.queue) > 0 {
		e.startCommitter(ent) // busy stays set
		return
	}
	ent.busy = false
	sh.release(ent)
}
