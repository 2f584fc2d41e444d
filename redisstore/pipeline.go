package redisstore

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
)

// Pipelining across scopes. A script call is sent on its own while few calls
// are in flight, so that a lightly loaded store adds no latency. Past that,
// and for as long as any pipeline is being flushed, calls queue, and flushers
// send what is queued as pipelines, with a few pipelines in flight at once:
// concurrent commits to different scopes then share round trips (one write
// and one read system call on each side for a whole batch). On loopback a
// write system call costs about as much client CPU as the rest of a call, so
// this is where throughput comes from.
//
// A pipeline takes the queued calls in order, up to a number of calls and a
// number of bytes of keys and arguments (a call larger than that goes
// alone); the rest wait for the next pipeline. Each command carries its
// caller's context, and the pipeline runs with a context that carries the
// values of its first caller's (go-redis hooks and tracing see it) and ends
// when every caller of the pipeline has given up.

// pipeliner sends script calls for one Store.
type pipeliner struct {
	client    redis.UniversalClient
	cluster   *redis.ClusterClient // client, if it is one; else nil
	maxDirect int                  // calls sent on their own at once; beyond, they queue
	maxFlush  int                  // pipelines in flight at once
	maxCalls  int                  // calls in one pipeline
	maxBytes  int                  // bytes of keys and arguments in one pipeline

	// What the errors of go-redis prove, for calls sent on their own and
	// in pipelines: see certaintyOf.
	directSure, pipedSure certainty

	// WithReplicas: a write is followed by WAIT replicas waitMillis on its
	// connection, in the same round trip; none when replicas is 0.
	replicas   int
	waitMillis int64

	mu      sync.Mutex
	direct  int     // calls in flight on their own
	flusher int     // flushing goroutines
	queue   []*call // waiting for a flusher
}

// call is one script call waiting in the queue.
type call struct {
	ctx    context.Context // the caller's
	script *script
	keys   []string
	args   []any
	size   int           // argBytes of keys and args
	wait   bool          // a write, to be followed by WAIT
	done   chan struct{} // closed when the result is set
	result

	batch *batch // guarded by pipeliner.mu: set when a flusher takes the call
}

// batch is one pipeline of calls. Its context ends when every caller gave
// up waiting, so an abandoned pipeline stops waiting for a connection.
type batch struct {
	live   int // guarded by pipeliner.mu: callers still waiting
	cancel context.CancelFunc
}

// result is what one script call answered.
type result struct {
	reply []any
	err   error
	// unsynced, for a write followed by WAIT: nil if WAIT counted enough
	// replicas, else a *ReplicationError. It says nothing of the script's
	// own outcome.
	unsynced error
}

// run calls script and returns its reply as a slice. An error that proves
// the script was not run matches scoped.ErrNotApplied. A call that writes
// (wait) is followed by WAIT on the same connection when the Store waits
// for replicas.
func (p *pipeliner) run(ctx context.Context, script *script, wait bool, keys []string, args ...any) result {
	if err := ctx.Err(); err != nil {
		return result{err: scoped.NotApplied(err)}
	}
	wait = wait && p.replicas > 0
	if wait && p.cluster != nil {
		return p.runOnMaster(ctx, script, keys, args)
	}
	p.mu.Lock()
	if p.direct < p.maxDirect && p.flusher == 0 {
		p.direct++
		p.mu.Unlock()
		res := p.runDirect(ctx, script, wait, keys, args)
		p.mu.Lock()
		p.direct--
		p.mu.Unlock()
		return res
	}
	c := &call{ctx: ctx, script: script, keys: keys, args: args, size: argBytes(keys, args), wait: wait, done: make(chan struct{})}
	p.queue = append(p.queue, c)
	if p.flusher < p.maxFlush {
		p.flusher++
		go p.flush()
	}
	p.mu.Unlock()

	select {
	case <-c.done:
		return c.result
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-c.done: // settled meanwhile: its outcome is known
		return c.result
	default:
	}
	if c.batch == nil { // still queued: never sent, and never will be
		p.queue = slices.DeleteFunc(p.queue, func(q *call) bool { return q == c })
		return result{err: scoped.NotApplied(ctx.Err())}
	}
	if c.batch.live--; c.batch.live == 0 {
		c.batch.cancel()
	}
	return result{err: ctx.Err()} // its pipeline may have sent it
}

// flush sends the queued calls, one pipeline after another, until the queue
// is empty.
func (p *pipeliner) flush() {
	for {
		runtime.Gosched() // let callers that are on their way join this pipeline
		p.mu.Lock()
		n := p.take()
		if n == 0 {
			p.flusher--
			p.mu.Unlock()
			return
		}
		calls := p.queue[:n:n]
		if p.queue = p.queue[n:]; len(p.queue) == 0 {
			p.queue = nil
		} else if p.flusher < p.maxFlush {
			p.flusher++ // what is left waits for another pipeline
			go p.flush()
		}
		ctx, cancel := context.WithCancel(context.WithoutCancel(calls[0].ctx))
		b := &batch{live: n, cancel: cancel}
		for _, c := range calls {
			c.batch = b
		}
		p.mu.Unlock()
		p.send(ctx, calls)
		cancel()
	}
}

// take returns how many calls at the head of the queue the next pipeline
// takes: at least one if any is queued, at most maxCalls, and no more than
// maxBytes unless the first call alone is larger. The caller holds p.mu.
func (p *pipeliner) take() int {
	n, size := 0, 0
	for n < len(p.queue) && n < p.maxCalls {
		size += p.queue[n].size
		if n > 0 && size > p.maxBytes {
			break
		}
		n++
	}
	return n
}

// runDirect sends one call on its own: EVALSHA, then EVAL on NOSCRIPT. With
// wait, each is sent in a pipeline with a WAIT behind it.
func (p *pipeliner) runDirect(ctx context.Context, script *script, wait bool, keys []string, args []any) result {
	if !wait {
		cmd := script.command(ctx, false, keys, args)
		if err := p.client.Process(ctx, cmd); isNoScript(err) {
			cmd = script.command(ctx, true, keys, args)
			p.client.Process(ctx, cmd)
		}
		reply, err := cmd.Slice()
		p.reloadAfter(ctx, err)
		return result{reply: reply, err: p.directSure.mark(err)}
	}
	return p.runWaiting(ctx, p.client, script, keys, args)
}

// runWaiting sends one call to client, a single node, with a WAIT behind it
// in one pipeline, which a *redis.Client sends on one connection: EVALSHA,
// then EVAL on NOSCRIPT.
func (p *pipeliner) runWaiting(ctx context.Context, client redis.Cmdable, script *script, keys []string, args []any) result {
	var (
		cmd     scriptCmd
		waitCmd *redis.IntCmd
	)
	for _, byBody := range []bool{false, true} {
		cmd, waitCmd = script.command(ctx, byBody, keys, args), p.waitCommand(ctx)
		pipe := client.Pipeline()
		pipe.Process(ctx, cmd)
		pipe.Process(ctx, waitCmd)
		pipe.Exec(ctx) // each command carries its own error
		if !isNoScript(cmd.Err()) {
			break
		}
	}
	reply, err := cmd.Slice()
	return result{reply: reply, err: p.directSure.mark(err), unsynced: p.synced(waitCmd)}
}

// runOnMaster sends a write of a Cluster client, with its WAIT, to the
// master of its keys' slot (the keys of one call share a slot), on one
// connection of that node: a ClusterClient's own pipeline would be split by
// node and re-sent on redirections. The node's client does not follow MOVED
// or ASK: the script was not run there, so the call is not applied, and the
// ClusterClient reloads its slot map so that the engine's retry reaches the
// slot's master. (During a slot migration, a key already moved answers ASK
// until the migration ends: its writes are refused until then.)
func (p *pipeliner) runOnMaster(ctx context.Context, script *script, keys []string, args []any) result {
	node, err := p.cluster.MasterForKey(ctx, keys[0])
	if err != nil {
		return result{err: scoped.NotApplied(err)} // nothing was sent
	}
	res := p.runWaiting(ctx, node, script, keys, args)
	if redirected(res.err) {
		p.cluster.ReloadState(ctx)
		return result{err: scoped.NotApplied(res.err)}
	}
	p.reloadAfter(ctx, res.err)
	return res
}

// waitCommand returns the WAIT command that follows writes.
func (p *pipeliner) waitCommand(ctx context.Context) *redis.IntCmd {
	return redis.NewIntCmd(ctx, "wait", p.replicas, p.waitMillis)
}

// synced returns nil if WAIT answered at least the replicas asked for, else
// a *ReplicationError.
func (p *pipeliner) synced(cmd *redis.IntCmd) error {
	n, err := cmd.Result()
	if err == nil && n >= int64(p.replicas) {
		return nil
	}
	return &ReplicationError{Want: p.replicas, Got: n, Err: err}
}

// send runs calls in one pipeline of EVALSHA, then the ones whose script the
// server did not have in one pipeline of EVAL, and settles every call. A
// pipeline that holds writes to wait for ends with one WAIT: it follows every
// write of the pipeline on the same connection (a *redis.Client sends a
// pipeline on one connection), and so covers them all.
func (p *pipeliner) send(ctx context.Context, calls []*call) {
	cmds := make([]scriptCmd, len(calls))
	waits := make([]*redis.IntCmd, len(calls))
	pipe := p.client.Pipeline()
	var waitCmd *redis.IntCmd
	for i, c := range calls {
		cmds[i] = c.script.command(c.ctx, false, c.keys, c.args)
		pipe.Process(ctx, cmds[i])
		if c.wait {
			if waitCmd == nil {
				waitCmd = p.waitCommand(ctx)
			}
			waits[i] = waitCmd
		}
	}
	if waitCmd != nil {
		pipe.Process(ctx, waitCmd)
	}
	pipe.Exec(ctx) // each command carries its own error

	var again []int
	for i, cmd := range cmds {
		if isNoScript(cmd.Err()) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		pipe := p.client.Pipeline()
		waitCmd = nil
		for _, i := range again {
			c := calls[i]
			cmds[i] = c.script.command(c.ctx, true, c.keys, c.args)
			pipe.Process(ctx, cmds[i])
			if c.wait {
				if waitCmd == nil {
					waitCmd = p.waitCommand(ctx)
				}
				waits[i] = waitCmd
			}
		}
		if waitCmd != nil {
			pipe.Process(ctx, waitCmd)
		}
		pipe.Exec(ctx)
	}
	for i, c := range calls {
		reply, err := cmds[i].Slice()
		p.reloadAfter(ctx, err)
		c.result = result{reply: reply, err: p.pipedSure.mark(err)}
		if waits[i] != nil {
			c.unsynced = p.synced(waits[i])
		}
		close(c.done)
	}
}

// reloadAfter has a Cluster client reload its slot map after a connection
// failure, before the caller learns of it. go-redis reloads on MOVED and
// READONLY, and otherwise once a minute: a primary that died would keep
// its slots in the client's map after its replica took them over, and a
// compare-and-set, which go-redis never re-sends, would never be
// redirected. ReloadState only starts a reload in the background (at most
// one at a time, and one more if asked meanwhile: calling it for every
// failed call of a pipeline costs nothing), so that the engine's retry or
// resend after its backoff goes to the new primary.
func (p *pipeliner) reloadAfter(ctx context.Context, err error) {
	if p.cluster != nil && connFailure(err) {
		p.cluster.ReloadState(ctx)
	}
}
