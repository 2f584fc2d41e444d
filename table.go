package scoped

import (
	"container/list"
	"hash/maphash"
	"sync"
)

// The table holds one entry per scope that has calls in progress or a
// cached record. Entries are spread over shards so that calls on different
// scopes rarely contend for a lock; within a shard, idle entries form an LRU
// list bounded by the cache size.

const shardCount = 32

type table struct {
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu        sync.Mutex
	entries   map[string]*entry
	idle      list.List // idle entries with a cached record, most recent first
	idleBytes int       // bytes of the values of the idle entries
	maxIdle   int       // idle entries kept at most
	maxBytes  int       // idle bytes kept at most
}

// tick is a reading of a scope's clock, which ticks once per call on the
// scope. A call is stamped with the tick at which it arrived, a record with
// the tick at which the request that returned it was sent: a record stamped
// later than a call arrived was read after that call began, and may be
// returned as current to it.
type tick uint64

// entry is one scope's group-commit state and cached record. Every field is
// guarded by the shard's mutex.
type entry struct {
	name    string
	shard   *shard
	busy    bool          // a committer goroutine runs for this scope
	queue   []*op         // calls waiting for the committer, in arrival order
	clock   tick          // the scope's clock
	rec     Record        // the last record seen, if cached
	read    tick          // rec's stamp
	cached  bool          // rec is set
	readers int           // reads in progress, which will cache what they read
	elem    *list.Element // place in shard.idle while idle
}

// newTable returns a table caching up to maxScopes idle records holding up to
// maxBytes of values, spread evenly over the shards.
func newTable(maxScopes, maxBytes int) *table {
	t := &table{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i] = shard{
			entries:  map[string]*entry{},
			maxIdle:  (maxScopes + shardCount - 1) / shardCount,
			maxBytes: (maxBytes + shardCount - 1) / shardCount,
		}
	}
	return t
}

func (t *table) shard(name string) *shard {
	return &t.shards[maphash.String(t.seed, name)%shardCount]
}

// get returns the entry of name, creating it, and takes it off the idle list.
// The caller holds s.mu.
func (s *shard) get(name string) *entry {
	e := s.entries[name]
	if e == nil {
		e = &entry{name: name, shard: s}
		s.entries[name] = e
	}
	if e.elem != nil {
		s.unidle(e)
	}
	return e
}

// unidle takes e off the idle list. The caller holds s.mu.
func (s *shard) unidle(e *entry) {
	s.idle.Remove(e.elem)
	s.idleBytes -= len(e.rec.Value)
	e.elem = nil
}

// remember caches rec, stamped at, as the last seen record of e unless e
// holds one stamped later. Versions cannot order records, since a deleted
// and re-created scope counts its versions again: the stamps do. A cached
// record older than the stored one only costs a conflict, never a wrong
// answer, since every write checks it. The caller holds the shard's mutex.
func (e *entry) remember(rec Record, at tick) {
	if !e.cached || at >= e.read {
		e.rec, e.read, e.cached = rec, at, true
	}
}

// forget drops the cached record of e, whose state is unknown. The caller
// holds the shard's mutex.
func (e *entry) forget() {
	e.rec, e.read, e.cached = Record{}, 0, false
}

// release puts e on the idle list, or drops it, once no call uses it, and
// evicts the least recently used idle entries over the limits. The caller
// holds s.mu.
func (s *shard) release(e *entry) {
	if e.busy || len(e.queue) > 0 || e.readers > 0 {
		return
	}
	if e.cached && s.maxIdle > 0 && len(e.rec.Value) <= s.maxBytes { // a record over the bound evicts no other
		e.elem = s.idle.PushFront(e)
		s.idleBytes += len(e.rec.Value)
	} else {
		delete(s.entries, e.name)
	}
	for s.idle.Len() > s.maxIdle || s.idleBytes > s.maxBytes {
		old := s.idle.Back().Value.(*entry)
		s.unidle(old)
		delete(s.entries, old.name)
	}
}
