package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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

	names := []string{"hot"}
	for w := range workers {
		names = append(names, fmt.Sprintf("own-%d", w))
	}
	type scopeCalls struct{ succeeded, unknown, refused []int64 }
	var (
		mu         sync.Mutex
		calls      = map[string]*scopeCalls{}
		unexpected []error
		samples    errorSamples
		nextCall   atomic.Int64
		okSince    atomic.Int64 // successes since the last partition healed
	)
	for _, name := range names {
		calls[name] = &scopeCalls{}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := names[0]
				if i%2 == 1 {
					name = names[1+w]
				}
				call := nextCall.Add(1)
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				_, err := scoped.Update(ctx, e, name, func(l *ledger.Ledger) (int, error) {
					l.N++
					l.Calls = append(l.Calls, call)
					return l.N, nil
				})
				cancel()
				mu.Lock()
				sc := calls[name]
				switch {
				case err == nil:
					sc.succeeded = append(sc.succeeded, call)
					okSince.Add(1)
				case errors.Is(err, scoped.ErrCommitUnknown):
					sc.unknown = append(sc.unknown, call)
					samples.add("unknown", err)
				case errors.Is(err, scoped.ErrNotApplied):
					sc.refused = append(sc.refused, call)
					samples.add("not applied", err)
				case errors.Is(err, scoped.ErrTooManyConflicts) && name == names[0]:
					sc.refused = append(sc.refused, call)
					samples.add("too many conflicts", err)
				default:
					sc.refused = append(sc.refused, call)
					unexpected = append(unexpected, err)
				}
				mu.Unlock()
			}
		})
	}
	stopLoad := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	t.Cleanup(stopLoad)

	failed := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, sc := range calls {
			n += len(sc.unknown) + len(sc.refused)
		}
		return n
	}
	for _, cut := range []bool{false, true} {
		time.Sleep(loadFor)
		if okSince.Swap(0) == 0 {
			t.Fatal("no call succeeded before the partition")
		}
		before := failed()
		proxy.Stop()
		time.Sleep(partedFor)
		if cut {
			proxy.Cut()
		}
		proxy.Resume()
		okSince.Store(0)
		if failed() == before {
			t.Errorf("no call failed during the partition (cut: %v)", cut)
		}
	}
	time.Sleep(loadFor)
	stopLoad()
	if okSince.Load() == 0 {
		t.Error("no call succeeded after the last partition")
	}

	for _, err := range unexpected {
		t.Errorf("a call failed neither as not applied nor as unknown: %v", err)
	}
	samples.log(t)
	// Writes held by the proxy were delivered at Resume, before the last
	// load: the server's state is final.
	direct := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { direct.Close() })
	fresh := scoped.New(redisstore.New(direct))
	for _, name := range names {
		l, err := scoped.Read[ledger.Ledger](t.Context(), fresh, name)
		if err != nil {
			t.Fatal(err)
		}
		sc := calls[name]
		t.Logf("%s: %d succeeded, %d unknown, %d refused; ledger at %d", name, len(sc.succeeded), len(sc.unknown), len(sc.refused), l.N)
		t.Run(name, func(t *testing.T) { ledger.Check(t, l, sc.succeeded, sc.unknown, sc.refused) })
	}
}
