package redisstore_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/ledger"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// TestPartitionMidLoad increments scopes (one hot scope shared by every
// goroutine, and one per goroutine) through a proxy in front of a private
// Redis, and partitions the proxy mid-load for longer than a call's
// deadline: bytes are held both ways, and delivered when the partition
// heals, even for calls that gave up meanwhile (late writes). The first
// partition heals with the connections kept; the second one is cut (every
// connection closed, what was held dropped) before it heals. Calls in
// flight must end with an unknown outcome or not applied (or, on the hot
// scope, with too many conflicts), never with success for a write the
// server did not keep, and the load must go on after each partition. Every
// scope's value is a ledger of the calls that incremented it, read from the
// server directly at the end: each acknowledged call is in it exactly once,
// each refused call is not, and each call of unknown outcome at most once.
//
// With go-redis's socket timeouts the calls end by ReadTimeout, and go-redis
// retries reads that timed out; with ContextTimeoutEnabled they end with
// their context, and go-redis does not retry.
func TestPartitionMidLoad(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts redis.Options
	}{
		{"ReadTimeout", redis.Options{ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond}},
		{"ContextTimeoutNoClientRetries", redis.Options{ContextTimeoutEnabled: true, MaxRetries: -1}},
	} {
		t.Run(tt.name, func(t *testing.T) { testPartition(t, tt.opts) })
	}
}

func testPartition(t *testing.T, opts redis.Options) {
	const (
		workers     = 8
		callTimeout = time.Second
		loadFor     = time.Second // before each partition, and after the last
		partedFor   = callTimeout + 500*time.Millisecond
	)
	srv := testenv.StartRedis(t)
	proxy := testenv.StartProxy(t, srv.Addr())
	opts.Addr = proxy.Addr()
	c := redis.NewClient(&opts)
	t.Cleanup(func() { c.Close() })
	e := scoped.New(redisstore.New(c))

	load := ledger.StartLoad(t, e, workers, callTimeout, true)
	okAt := load.Succeeded() // successes when this stretch of load began
	for _, cut := range []bool{false, true} {
		time.Sleep(loadFor)
		if load.Succeeded() == okAt {
			t.Fatal("no call succeeded before the partition")
		}
		before := load.Failed()
		proxy.Stop()
		time.Sleep(partedFor)
		if cut {
			proxy.Cut()
		}
		proxy.Resume()
		okAt = load.Succeeded()
		if load.Failed() == before {
			t.Errorf("no call failed during the partition (cut: %v)", cut)
		}
	}
	time.Sleep(loadFor)
	load.Stop()
	if load.Succeeded() == okAt {
		t.Error("no call succeeded after the last partition")
	}

	load.Report(t)
	// Writes held by the proxy were delivered at Resume, before the last
	// load: the server's state is final.
	direct := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { direct.Close() })
	load.CheckOn(t, scoped.New(redisstore.New(direct)))
}
