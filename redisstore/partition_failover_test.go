package redisstore_test

import (
	"slices"
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

	load := ledger.StartLoad(t, e, workers, callTimeout, false)

	time.Sleep(before)
	// Stop first: a call that began late began after the partition, and
	// no replica can have acknowledged its write.
	link.Stop()
	load.MarkLate()
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
	load.Stop()

	load.Report(t)
	late, okLate := load.Late()
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
	isLate := map[int64]bool{}
	for _, call := range late {
		isLate[call] = true
	}
	var acked, lost, lostLate int
	for _, name := range load.Names() {
		l, err := scoped.Read[ledger.Ledger](t.Context(), fresh, name)
		if err != nil {
			t.Fatal(err)
		}
		sc := load.Calls(name)
		succeeded, unknown := sc.Succeeded, sc.Unknown
		kept := map[int64]bool{}
		for _, call := range l.Calls {
			kept[call] = true
		}
		var missing []int64
		for _, call := range succeeded {
			if !kept[call] {
				missing = append(missing, call)
				if isLate[call] {
					lostLate++
				}
			}
		}
		acked, lost = acked+len(succeeded), lost+len(missing)
		t.Logf("%s: %d succeeded, %d unknown, %d refused; ledger at %d on the new primary, %d acknowledged calls missing",
			name, len(succeeded), len(unknown), len(sc.Refused), l.N, len(missing))
		if !wait {
			// Lost acknowledged calls are expected here: check the rest
			// as if their outcome had been unknown.
			succeeded = slices.DeleteFunc(slices.Clone(succeeded), func(c int64) bool { return !kept[c] })
			unknown = append(slices.Clone(unknown), missing...)
		}
		t.Run(name, func(t *testing.T) { ledger.Check(t, l, succeeded, unknown, sc.Refused) })
	}
	t.Logf("partitioned primary with WithReplicas %v: %d acknowledged calls, %d of them missing from the new primary (%d began after the partition)",
		wait, acked, lost, lostLate)
}
