package redisstore

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Pipelining across scopes. A script call is sent on its own while few calls
// are in flight, so that a lightly loaded store adds no latency. Past that,
// and for as long as any pipeline is being flushed, calls queue, and flushers
// send everything queued as one pipeline, with a few pipelines in flight at
// once: concurrent commits to different scopes
// then share round trips (one write and one read system call on each side
// for a whole batch). On loopback a write system call costs about as much
// client CPU as the rest of a call, so this is where throughput comes from.

// pipeliner sends script calls for one Store.
type pipeliner struct {
	client    redis.UniversalClient
	maxDirect int // calls sent on their own at once; beyond, they queue
	maxFlush  int // pipelines in flight at once

	mu      sync.Mutex
	direct  int     // calls in flight on their own
	flusher int     // flushing goroutines
	queue   []*call // waiting for a flusher
}

// call is one script call waiting in the queue.
type call struct {
	script *script
	keys   []string
	args   []any
	done   chan struct{} // closed when reply and err are set
	reply  []any
	err    error

	batch *batch // guarded by pipeliner.mu: set when a flusher takes the call
}

// batch is one pipeline of calls. Its context ends when every caller gave
// up waiting, so an abandoned pipeline stops waiting for the server.
type batch struct {
	live   int // guarded by pipeliner.mu: callers still waiting
	cancel context.CancelFunc
}

// run calls script and returns its reply as a slice.
func (p *pipeliner) run(ctx context.Context, script *script, keys []string, args ...any) ([]any, error) {
	p.mu.Lock()
	if p.direct < p.maxDirect && p.flusher == 0 {
		p.direct++
		p.mu.Unlock()
		reply, err := p.runDirect(ctx, script, keys, args)
		p.mu.Lock()
		p.direct--
		p.mu.Unlock()
		return reply, err
	}
	c := &call{script: script, keys: keys, args: args, done: make(chan struct{})}
	p.queue = append(p.queue, c)
	if p.flusher < p.maxFlush {
		p.flusher++
		go p.flush()
	}
	p.mu.Unlock()

	select {
	case <-c.done:
		return c.reply, c.err
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.batch == nil { // never sent
		p.queue = slices.DeleteFunc(p.queue, func(q *call) bool { return q == c })
	} else if c.batch.live--; c.batch.live == 0 {
		c.batch.cancel()
	}
	return nil, ctx.Err()
}

// flush sends the queued calls, one pipeline after another, until the queue
// is empty.
func (p *pipeliner) flush() {
	for {
		runtime.Gosched() // let callers that are on their way join this pipeline
		p.mu.Lock()
		calls := p.queue
		p.queue = nil
		if len(calls) == 0 {
			p.flusher--
			p.mu.Unlock()
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		b := &batch{live: len(calls), cancel: cancel}
		for _, c := range calls {
			c.batch = b
		}
		p.mu.Unlock()
		p.send(ctx, calls)
		cancel()
	}
}

// runDirect sends one call on its own: EVALSHA, then EVAL on NOSCRIPT.
func (p *pipeliner) runDirect(ctx context.Context, script *script, keys []string, args []any) ([]any, error) {
	cmd := script.command(ctx, false, keys, args)
	if err := p.client.Process(ctx, cmd); isNoScript(err) {
		cmd = script.command(ctx, true, keys, args)
		p.client.Process(ctx, cmd)
	}
	return cmd.Slice()
}

// send runs calls in one pipeline of EVALSHA, then the ones whose script the
// server did not have in one pipeline of EVAL, and settles every call.
func (p *pipeliner) send(ctx context.Context, calls []*call) {
	cmds := make([]scriptCmd, len(calls))
	pipe := p.client.Pipeline()
	for i, c := range calls {
		cmds[i] = c.script.command(ctx, false, c.keys, c.args)
		pipe.Process(ctx, cmds[i])
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
		for _, i := range again {
			c := calls[i]
			cmds[i] = c.script.command(ctx, true, c.keys, c.args)
			pipe.Process(ctx, cmds[i])
		}
		pipe.Exec(ctx)
	}
	for i, c := range calls {
		c.reply, c.err = cmds[i].Slice()
		close(c.done)
	}
}
