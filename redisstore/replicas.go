package redisstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/scoped-go/scoped"
)

// Creates whose outcome a Load decides. The engine learns the outcome of a
// write that failed by sending it again: the copy of a write that was
// applied finds its own record, and, with WithReplicas, rewrites it
// (cas.lua's ARGV[7]) and waits, so that it reports the record only once
// enough replicas have it. A create is not sent again but looked for, by a
// Load (a second copy could create a deleted scope again). So the Store
// remembers, for a while, the writer tokens of the creates that failed
// after they may have been applied; a Load that finds one of them as the
// record's writer rewrites and waits in the same way before it returns the
// record. Other Loads wait for nothing.

// unconfirmedFor is how long a create whose outcome is unknown is looked
// for: far longer than the engine spends learning an outcome.
const unconfirmedFor = time.Minute

// unconfirmed is the set of writer tokens of creates that may be applied
// but were not acknowledged by enough replicas. Tokens are dropped when a
// Load confirms them, or after unconfirmedFor.
type unconfirmed struct {
	mu    sync.Mutex
	since map[scoped.Token]time.Time
	order []scoped.Token // by time added
}

// add remembers t, and forgets the tokens older than unconfirmedFor.
func (u *unconfirmed) add(t scoped.Token) {
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	for len(u.order) > 0 {
		at, ok := u.since[u.order[0]]
		if ok && now.Sub(at) < unconfirmedFor {
			break
		}
		delete(u.since, u.order[0])
		u.order = u.order[1:]
	}
	if u.since == nil {
		u.since = map[scoped.Token]time.Time{}
	}
	if _, ok := u.since[t]; !ok {
		u.order = append(u.order, t)
	}
	u.since[t] = now
}

// has reports whether t is a token to confirm.
func (u *unconfirmed) has(t scoped.Token) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	at, ok := u.since[t]
	return ok && time.Since(at) < unconfirmedFor
}

// remove forgets t, confirmed.
func (u *unconfirmed) remove(t scoped.Token) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.since, t)
}

// confirm loads the scope again, rewriting its record if its writer is
// writer, with a WAIT behind: it returns the record if it is another
// writer's, or if enough replicas acknowledged it, and a *ReplicationError
// otherwise.
func (s *Store) confirm(ctx context.Context, name string, writer scoped.Token) (scoped.Record, error) {
	res := s.calls.run(ctx, loadScript, true, []string{s.Key(name)}, writer[:])
	rec, err := s.loaded(name, res.reply, res.err)
	switch {
	case err != nil:
		return scoped.Record{}, err
	case rec.Writer != writer:
		return rec, nil
	case res.unsynced != nil:
		return scoped.Record{}, fmt.Errorf("redisstore: load: %w", res.unsynced)
	}
	s.unconfirmed.remove(writer)
	return rec, nil
}
