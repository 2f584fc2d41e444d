// Package redisstore is the Redis backend of scoped: each scope is one Redis
// hash, read and written by Lua scripts (lua/load.lua, lua/cas.lua and
// lua/casmany.lua), so that a load, a compare-and-set or a commit of
// several scopes is one round trip.
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	e := scoped.New(redisstore.New(client))
//	n, err := scoped.Update(ctx, e, "visits", func(n *int) (int, error) {
//		*n++
//		return *n, nil
//	})
//
// It takes any redis.UniversalClient: a single node, Sentinel, Ring or
// Cluster.
//
// # Layout
//
// A scope's key is prefix + name, one key per scope, so that a script on
// one scope is never cross-slot; the prefix is DefaultPrefix unless
// WithPrefix says otherwise. The hash has three fields, and a fourth for a
// record that expires: n, the version in decimal; w, the 16-byte writer token of that
// version; v, the msgpack value; e, the expiry time in milliseconds since
// the epoch, in decimal. A scope without a record has no key: a delete
// removes it (DEL), and a re-created scope starts again at version 1.
//
// A key that these scripts did not write (a string, a list or any other
// type, or a hash without field n, or with a version or writer token that
// does not parse, or a version with leading zeros) is reported as a *scoped.CorruptValueError naming the
// scope, by reads and writes alike, and never overwritten. Deleting the key
// resets the scope. A hash with a version and a writer but no value, the
// tombstone that the version 1 contract left after a delete, loads as a
// record without a value at that version: writes continue from it, and a
// delete removes it.
//
// # Expiry
//
// Redis expires the keys itself. A write with an expiry time stores it in
// field e and sets it on the key with PEXPIREAT, in the same script as the
// write, so the write and its expiry are atomic; a write without one drops
// the field and PERSISTs the key. Load and a refused write return the
// expiry time from field e in the same round trip. Once the time has
// passed, Redis removes the key (lazily on access, or by its active expiry
// cycle) and never shows it again: the scope reads as never written, a
// write expecting the old record is refused, and one expecting none
// creates the scope again at version 1. There is nothing to sweep: the
// Store has no Sweep.
//
// The expiry time is absolute and comes from the client (the engine's
// clock, time.Now unless scoped.WithClock says otherwise), but Redis's own
// clock decides when it has passed. Clock skew between a client machine and
// the server shifts every expiry by that skew: a server clock ahead by a
// second removes keys a second early.
//
// # Listing
//
// List scans the keys of the scopes whose names begin with the prefix:
// SCAN with MATCH of the key prefix (its glob characters * ? [ ] \ escaped)
// followed by *, and a COUNT of 200, page after page. On a Redis Cluster it
// scans every master in turn (found with ForEachMaster when the listing
// starts), on a Ring every live shard (a Ring sends the keys of a shard it
// found down to the others); keys that move between nodes during a listing
// may be missed. SCAN may return a key twice, so a listing
// remembers every name it yielded (memory in proportion to the listing) to
// yield each once. The context is checked before each page, and a listing
// holds nothing on the server between pages. Keys under the store's prefix
// whose rest is not a valid scope name are left out; keys of another type
// are listed, and Load reports them as corrupt.
//
// # Several scopes at once
//
// CompareAndSetMany (scoped.Transact) runs lua/casmany.lua over the keys of
// every scope: it checks each expected revision first, and then writes
// every scope or none, in one round trip. One script runs on one server,
// so the keys must be there together. On Redis Cluster they must be in one
// hash slot: Redis hashes a key's hash tag (the text between its first '{'
// and the first '}' after it, if not empty) instead of the whole key, so
// scopes whose names share a hash tag ("{user42}:cart", "{user42}:wallet")
// share a slot, as long as the prefix holds no '{'. On a Ring they must
// have the same hash tag (or be one key): a Ring's shard for a key changes
// with the shards that are up, a shared tag keeps them together whatever
// happens. Scopes that break the rule are refused with a *CrossSlotError,
// matching scoped.ErrNotColocated, before anything is sent. A single node
// (or Sentinel) takes any names.
//
// # Scripts
//
// Scripts are sent by EVALSHA, and by EVAL when the server answers NOSCRIPT.
// go-redis is told never to send a write (cas.lua, casmany.lua) a second
// time by itself (it would after some network errors, even when the server
// ran it); the engine learns the outcome of such a write by sending it
// again itself.
//
// # Pipelines
//
// Calls are sent on their own while few are in flight. Past that, they
// queue and are sent together in pipelines, a few pipelines in flight at
// once, so that concurrent commits to different scopes share round trips
// (see WithPipelining). A pipeline holds at most DefaultMaxPipelineCalls
// calls and DefaultMaxPipelineBytes bytes of keys and arguments (see
// WithPipelineBounds); the calls beyond wait for the next one. A pipelined
// command carries its caller's context, and the pipeline runs with a context
// that carries the values of its first caller's, so that go-redis hooks and
// tracing see a caller's context; it ends when every caller of the pipeline
// has given up. A Store starts goroutines only while pipelines are in
// flight, and needs no closing.
//
// # Replicas
//
// Redis replicates asynchronously: a primary acknowledges a write before
// its replicas have it, and a failover that promotes a replica without it
// loses it. WithReplicas(n, timeout) follows every compare-and-set and
// delete with WAIT n timeout on the same connection, in the same round trip
// (a pipeline of writes ends with one WAIT, which covers them all), and
// fails a write that fewer than n replicas acknowledged with a
// *ReplicationError: not applied is not what it is, so the engine learns
// its outcome by sending it again, and reports scoped.ErrCommitUnknown
// unless the replicas acknowledge it then. It needs a *redis.Client (a
// single node, or redis.NewFailoverClient for Sentinel) or a
// *redis.ClusterClient, on which each write goes on its own, with its WAIT,
// to the master of its slot; a Ring refuses every write
// (ErrReplicasUnsupported).
//
// # Errors
//
// An error matches scoped.ErrNotApplied only when the server cannot have
// run the script and never will:
//
//   - the context had ended before the call was sent, or ended while the
//     call waited in the queue for a pipeline, or while go-redis waited
//     for a pooled connection, a dial or a retry's backoff;
//   - the connection could not be made (a dial error), the pool timed out
//     or is exhausted, or the client is closed;
//   - the server refused the script before it wrote anything: LOADING,
//     BUSY, READONLY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, NOREPLICAS and OOM
//     replies, and "max number of clients reached";
//   - a write found a key that the scripts did not write (a
//     *scoped.CorruptValueError).
//
// Any other error (a connection lost after the command was written, a
// timeout while reading the reply) may follow a script that ran, and is
// returned as it is. On a Redis Cluster, the failures before sending of a
// pipelined call are returned as they are too: go-redis re-sends the
// commands of a node it could not reach, and keeps a command's first error
// when a later attempt fails after writing it. The classification assumes
// go-redis's own clients (*redis.Client, *redis.ClusterClient, *redis.Ring)
// and hooks that return the error of next; with any other
// redis.UniversalClient only the store's own context checks are marked.
package redisstore
