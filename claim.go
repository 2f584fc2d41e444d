package scoped

import (
	"context"
	"slices"
)

// Claims. A call over several scopes (Transact) owns each of its scopes
// while it runs, in place of their committers: it claims them one after
// another, in name order, and releases them when it is done. A claim on an
// idle scope takes it at once; on a busy one it queues like a call, and the
// scope's committer hands the scope over when the claim reaches the head of
// the queue, instead of taking it into a batch. Calls on one scope never
// wait for a second scope while they hold one, and claims are always taken
// in the same order, so no cycle of waits can form.

// claim takes the scope name for its caller, waiting for the calls queued
// ahead of it, and returns its entry. It fails, owning nothing, when ctx
// ends first.
func (e *Engine) claim(ctx context.Context, name string) (*entry, error) {
	sh := e.table.shard(name)
	sh.mu.Lock()
	ent := sh.get(name)
	ent.clock++
	if !ent.busy {
		ent.busy = true
		sh.mu.Unlock()
		return ent, nil
	}
	c := &op{ctx: ctx, claim: true, done: make(chan struct{}), state: opQueued}
	ent.queue = append(ent.queue, c)
	sh.mu.Unlock()

	select {
	case <-c.done:
		return ent, nil
	case <-ctx.Done():
	}
	sh.mu.Lock()
	granted := c.state == opDone
	if !granted {
		ent.queue = slices.DeleteFunc(ent.queue, func(q *op) bool { return q == c })
		c.state = opAbandoned
		sh.release(ent)
	}
	sh.mu.Unlock()
	if granted {
		e.unclaim(ent)
	}
	return nil, notSent(name, ctx.Err())
}

// grantClaim hands ent, whose committer found the claim c at the head of
// its queue, to c's caller: ent stays busy, owned by it. The caller holds
// the shard's mutex.
func (e *Engine) grantClaim(ent *entry, c *op) {
	ent.queue = ent.queue[1:]
	c.state = opDone
	close(c.done)
}

// unclaim releases ent, claimed by claim: the calls queued on it meanwhile
// go to a new committer, else the scope is idle.
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
