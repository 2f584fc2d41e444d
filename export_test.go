package scoped

// Busy reports whether a committer runs for the scope name. Tests use it to
// wait until a scope is idle.
func Busy(e *Engine, name string) bool {
	sh := e.table.shard(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ent := sh.entries[name]
	return ent != nil && ent.busy
}
