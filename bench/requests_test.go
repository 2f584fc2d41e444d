package bench

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// requestCounter is a go-redis hook counting the requests a client sends to
// the server, each a network round trip: one per command, one per pipeline
// or MULTI/EXEC transaction, however many commands it carries. Connection
// set-up (HELLO, CLIENT SETINFO) counts too.
type requestCounter struct{ n atomic.Uint64 }

// count returns the requests sent so far; 0 for a nil counter.
func (r *requestCounter) count() uint64 {
	if r == nil {
		return 0
	}
	return r.n.Load()
}

// DialHook implements redis.Hook; dialling is not counted.
func (r *requestCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (r *requestCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (r *requestCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}
