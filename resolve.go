package scoped

// resolveTries is how many copies of a write whose reply failed are sent to
// learn its outcome.
const resolveTries = 3

// resolve settles the batch after the write of final failed
// with cause, which does not say whether the server performed it.
//
// It sends the very same write again, after a short wait, up to
// resolveTries times. A Load would not do: a write the client gave up on may
// still be applied later by the server (one waiting for a lock, one still in
// a socket buffer), after a Load found it absent. The second copy fences the
// first: whichever applies, the other finds the revision moved and is
// refused. The copy, or the token it finds, tells that the write was
// applied. Any other record found means the outcome stays unknown: since
// versions start again at 1 after a delete, not even a record at the very
// version the write would have made proves that another writer took it.
//
// A write that creates the scope is not sent again but looked for: it
// expects no record, which comes back whenever the scope is deleted, so a
// second copy could create the scope a second time after the first was
// deleted. Every other expected revision is gone for good once replaced.
func (b *batch) resolve(final Write, cause error) {
	create := b.rec.Revision().IsZero()
	for try := 1; try <= resolveTries; try++ {
		if b.e.opts.backoff(b.ctx, try) != nil {
			break // every caller left
		}
		var (
			cur Record
			ok  bool
			err error
		)
		if create {
			cur, err = b.loadRecord()
		} else {
			cur, ok, err = b.write(final)
		}
		if err != nil {
			continue // every copy is fenced the same way: send another
		}
		if ok || cur.Writer == final.Writer {
			b.settle(cur, true)
			return
		}
		break
	}
	b.e.counters.unknown.Add(1)
	sh := b.ent.shard
	sh.mu.Lock()
	b.ent.forget()
	sh.mu.Unlock()
	b.settleAll(&CommitUnknownError{Scope: b.ent.name, Cause: cause})
}
