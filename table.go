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
	seed     maphash.Seed
	perShard int // cached idle entries kept per shard
	shards   [shardCount]shard
}

type shard struct {
	mu      sync.Mutex
	entries map[string]*entry
	idle    list.List // idle entries with a cached record, most recent first
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

func newTable(cacheSize int) *table {
	t := &table{seed: maphash.MakeSeed(), perShard: (cacheSize + shardCount - 1) / shardCount}
	for i := range t.shards {
		t.shards[i].entries = map[string]*entry{}
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
		s.idle.Remove(e.elem)
		e.elem = nil
	}
	return e
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
// evicts the least recently used idle entries over the limit. The caller
// holds s.mu.
func (s *shard) settle(e *entry, limit int) {
	if e.leading || len(e.queue) > 0 {
		return
	}
	if e.cached && limit > 0 {
		e.elem = s.idle.PushFront(e)
	} else {
		delete(s.entries, e.name)
	}
	for s.idle.Len() > limit {
		old := s.idle.Remove(s.idle.Back()).(*entry)
		old.elem = nil
		delete(s.entries, old.name)
	}
}
