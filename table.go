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

// entry is one scope's group-commit state and cached record. Every field is
// guarded by the shard's mutex.
type entry struct {
	name    string
	shard   *shard
	leading bool          // a goroutine is committing for this scope
	queue   []*op         // calls waiting for the leader, in arrival order
	clock   uint64        // ticks once per call, to order calls and reads
	rec     Record        // the last record seen, if cached
	recTick uint64        // clock when the read that returned rec was sent
	cached  bool          // rec is set
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

// remember caches rec, read by a request sent at tick, as the last seen
// record of e unless e already holds a newer one. The caller holds the
// shard's mutex.
func (e *entry) remember(rec Record, tick uint64) {
	switch {
	case !e.cached || rec.Version > e.rec.Version:
		e.rec, e.recTick, e.cached = rec, tick, true
	case rec.Version == e.rec.Version:
		e.recTick = max(e.recTick, tick)
	}
}

// settle puts e on the idle list, or drops it, once no call uses it, and
// evicts the least recently used idle entries over the limits. The caller
// holds s.mu.
func (s *shard) settle(e *entry) {
	if e.leading || len(e.queue) > 0 {
		return
	}
	if e.cached && s.maxIdle > 0 {
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
