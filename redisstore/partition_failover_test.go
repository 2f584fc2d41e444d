package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// TestPartitionedPrimary cuts a primary off from its replicas and its
// Sentinels, but not from a client that goes on writing to it, and has
// Sentinel promote a replica meanwhile. A private primary has two replicas
// and three Sentinels, which all reach it through one testenv.Proxy; the
// client dials the primary directly. Every goroutine of the client
// increments one hot scope and one of its own, in turn, each scope a ledger
// of the calls that incremented it. Mid-load the proxy stops forwarding: the
// primary still answers the client, but nothing it writes reaches a
// replica, and the Sentinels, which no longer hear it, promote a replica.
// The client writes to the old primary a while longer, then the test reads
// every ledger from the new primary (the one the Sentinels name).
//
// WithReplicas(1, ...): no call that began after the partition succeeds
// (the old primary's WAITs count no replica), and the ledgers on the new
// primary agree with what every call was told: each acknowledged call
// exactly once, each call of unknown outcome at most once, no other call.
// Without it, the old primary acknowledges every write it is sent, and all
// those made after the partition are lost with it: the test logs how many
// acknowledged calls the new primary lacks, and asserts only that no call
// is in a ledger twice or without having succeeded or ended unknown.
func TestPartitionedPrimary(t *testing.T) {
	t.Run("WithReplicas", func(t *testing.T) { testPartitionedPrimary(t, true) })
	t.Run("WithoutReplicas", func(t *testing.T) { testPartitionedPrimary(t, false) })
}

func testPartitionedPrimary(t *testing.T, wait bool) {
	const (
		workers     = 8
		callTimeout = 2 * time.Second
		waitFor     = 200 * time.Millisecond // WithReplicas's timeout
		before      = time.Second            // load before the partition
		promotion   = 30 * time.Second       // bound on Sentinel's failover (a failed election is tried again after 10 s)
		after       = 500 * time.Millisecond // load on the old primary after the promotion
	)
	// A replica's first acknowledgement waits for the primary's first
	// ping (StartRedisReplica waits for it): every second, not every 10.
	primary := testenv.StartRedis(t, "--repl-ping-replica-period", "1")
	link := testenv.StartProxy(t, primary.Addr()) // every path to the primary but the client's
	testenv.StartRedisReplica(t, link.Addr())
	testenv.StartRedisReplica(t, link.Addr())
	sentinels := testenv.StartSentinels(t, link.Addr(), 3, 2, 2)

	c := redis.NewClient(&redis.Options{Addr: primary.Addr()})
	t.Cleanup(func() { c.Close() })
	var opts []redisstore.Option
	if wait {
		opts = append(opts, redisstore.WithReplicas(1, waitFor))
	}
	e := scoped.New(redisstore.New(c, opts...))

	names := []string{"hot"}
	for w := range workers {
		names = append(names, fmt.Sprintf("own-%d", w))
	}
	type scopeCalls struct{ succeeded, unknown, refused []int64 }
	var (
		mu         sync.Mutex
		calls      = map[string]*scopeCalls{}
		late       = map[int64]bool{} // the calls that began after the partition
		okLate     []int64            // ... and succeeded
		unexpected []error
		samples    errorSamples
		nextCall   atomic.Int64
		parted     atomic.Bool
		wg         sync.WaitGroup
	)
	for _, name := range names {
		calls[name] = &scopeCalls{}
	}
	done := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				name := names[0]
				if i%2 == 1 {
					name = names[1+w]
				}
				call := nextCall.Add(1)
				isLate := parted.Load()
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				_, err := scoped.Update(ctx, e, name, func(l *ledger.Ledger) (int, error) {
					l.N++
					l.Calls = append(l.Calls, call)
					return l.N, nil
				})
				cancel()
				mu.Lock()
				sc := calls[name]
				if isLate {
					late[call] = true
				}
				switch {
				case err == nil:
					sc.succeeded = append(sc.succeeded, call)
					if isLate {
						okLate = append(okLate, call)
					}
				case errors.Is(err, scoped.ErrCommitUnknown):
					sc.unknown = append(sc.unknown, call)
					samples.add("unknown", err)
				case errors.Is(err, scoped.ErrNotApplied):
					sc.refused = append(sc.refused, call)
					samples.add("not applied", err)
				default:
					sc.refused = append(sc.refused, call)
					unexpected = append(unexpected, err)
				}
				mu.Unlock()
			}
		})
	}
	stop := sync.OnceFunc(func() {
		close(done)
		wg.Wait()
	})
	t.Cleanup(stop)

	time.Sleep(before)
	// Stop first: a call that sees parted began after the partition, and
	// no replica can have acknowledged its write.
	link.Stop()
	parted.Store(true)
	partedAt := time.Now()
	var sentinelAddrs []string
	for _, s := range sentinels {
		sentinelAddrs = append(sentinelAddrs, s.Addr())
	}
	newAddr, err := awaitPromotion(sentinelAddrs[0], link.Addr(), promotion)
	if err != nil {
		for _, s := range sentinels {
			t.Logf("sentinel %s's log ends:\n%s", s.Addr(), s.LogTail())
		}
		t.Fatal(err)
	}
	t.Logf("%s promoted %s after the partition", newAddr, time.Since(partedAt).Round(time.Millisecond))
	time.Sleep(after)
	stop()

	for _, err := range unexpected {
		t.Errorf("a call failed neither as not applied nor as unknown: %v", err)
	}
	samples.log(t)
	if len(late) == 0 {
		t.Fatal("no call began after the partition")
	}
	if wait && len(okLate) > 0 {
		t.Errorf("%d of %d calls that began after the partition succeeded, e.g. call %d", len(okLate), len(late), okLate[0])
	}
	t.Logf("%d calls began after the partition, %d of them succeeded", len(late), len(okLate))

	reader := redis.NewClient(&redis.Options{Addr: newAddr})
	t.Cleanup(func() { reader.Close() })
	fresh := scoped.New(redisstore.New(reader))
	var acked, lost, lostLate int
	for _, name := range names {
		l, err := scoped.Read[ledger.Ledger](t.Context(), fresh, name)
		if err != nil {
			t.Fatal(err)
		}
		sc := calls[name]
		succeeded, unknown := sc.succeeded, sc.unknown
		kept := map[int64]bool{}
		for _, call := range l.Calls {
			kept[call] = true
		}
		var missing []int64
		for _, call := range succeeded {
			if !kept[call] {
				missing = append(missing, call)
				if late[call] {
					lostLate++
				}
			}
		}
		acked, lost = acked+len(succeeded), lost+len(missing)
		t.Logf("%s: %d succeeded, %d unknown, %d refused; ledger at %d on the new primary, %d acknowledged calls missing",
			name, len(succeeded), len(unknown), len(sc.refused), l.N, len(missing))
		if !wait {
			// Lost acknowledged calls are expected here: check the rest
			// as if their outcome had been unknown.
			succeeded = slices.DeleteFunc(slices.Clone(succeeded), func(c int64) bool { return !kept[c] })
			unknown = append(slices.Clone(unknown), missing...)
		}
		t.Run(name, func(t *testing.T) { ledger.Check(t, l, succeeded, unknown, sc.refused) })
	}
	t.Logf("partitioned primary with WithReplicas %v: %d acknowledged calls, %d of them missing from the new primary (%d began after the partition)",
		wait, acked, lost, lostLate)
}
