package scoped

import "sync/atomic"

// Stats counts what an Engine did since it was created. Retries/Calls is the
// retry rate; (Loads+Writes)/Calls the Store calls per call, which are round
// trips unless the store shares them (redisstore pipelines concurrent calls)
// or needs two for one (fallback/mysql after a refused write).
type Stats struct {
	Calls     uint64 // Run, Update, Delete, View and Read calls made
	Loads     uint64 // Store.Load round trips
	Writes    uint64 // Store.CompareAndSet and Store.Delete round trips
	Conflicts uint64 // writes refused because another writer committed first
	Retries   uint64 // attempts of calls beyond each call's first
	Unknown   uint64 // writes whose outcome could not be learned (ErrCommitUnknown)
}

// counters are the atomic fields behind Stats.
type counters struct {
	calls, loads, writes, conflicts, retries, unknown atomic.Uint64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	c := &e.counters
	return Stats{
		Calls:     c.calls.Load(),
		Loads:     c.loads.Load(),
		Writes:    c.writes.Load(),
		Conflicts: c.conflicts.Load(),
		Retries:   c.retries.Load(),
		Unknown:   c.unknown.Load(),
	}
}
