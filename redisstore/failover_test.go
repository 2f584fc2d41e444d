package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// TestSentinelFailover increments scopes through go-redis's failover client
// on a private primary with two replicas and three Sentinels, kills the
// primary with SIGKILL mid-load, and goes on once Sentinel has promoted a
// replica. Every goroutine increments one hot scope and one of its own, in
// turn. At the end it reads every scope from the new primary.
//
// WithReplicas(1, ...): every acknowledged increment survives the failover:
// each counter is at least its successes and at most its successes plus its
// unknown outcomes. Without it, acknowledged increments may be lost (the
// primary acknowledges before its replicas have the write): the test logs
// how many were, and asserts only that no increment was written twice or
// without being sent (the upper bound).
func TestSentinelFailover(t *testing.T) {
	t.Run("WithReplicas", func(t *testing.T) { testFailover(t, true) })
	t.Run("WithoutReplicas", func(t *testing.T) { testFailover(t, false) })
}

func testFailover(t *testing.T, wait bool) {
	const (
		workers     = 8
		callTimeout = 2 * time.Second
		before      = time.Second      // load before the kill
		promotion   = 30 * time.Second // bound on Sentinel's failover (a failed election is tried again after 10 s)
		after       = 20               // successes after the promotion
	)
	primary, _ := testenv.StartRedisReplicas(t, 2)
	sentinels := testenv.StartSentinels(t, primary.Addr(), 3, 2, 2)
	var sentinelAddrs []string
	for _, s := range sentinels {
		sentinelAddrs = append(sentinelAddrs, s.Addr())
	}
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    testenv.SentinelMaster,
		SentinelAddrs: sentinelAddrs,
		DialTimeout:   time.Second,
	})
	t.Cleanup(func() { c.Close() })
	var opts []redisstore.Option
	if wait {
		opts = append(opts, redisstore.WithReplicas(1, time.Second))
	}
	e := scoped.New(redisstore.New(c, opts...))

	names := []string{"hot"}
	for w := range workers {
		names = append(names, fmt.Sprintf("own-%d", w))
	}
	counts := make([]outcomes, len(names))
	var (
		promoted atomic.Bool
		okAfter  atomic.Int64 // successes that began after the promotion
		samples  errorSamples
		wg       sync.WaitGroup
	)
	done := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				k := 0 // the hot scope, then the worker's own
				if i%2 == 1 {
					k = 1 + w
				}
				late := promoted.Load()
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				_, err := scoped.Update(ctx, e, names[k], increment)
				cancel()
				switch {
				case err == nil:
					counts[k].ok.Add(1)
					if late {
						okAfter.Add(1)
					}
				case errors.Is(err, scoped.ErrCommitUnknown):
					counts[k].unknown.Add(1)
					samples.add("unknown", err)
				default:
					counts[k].failed.Add(1)
					samples.add("failed", err)
				}
			}
		})
	}
	stop := sync.OnceFunc(func() {
		close(done)
		wg.Wait()
	})
	t.Cleanup(stop)

	time.Sleep(before)
	killed := time.Now()
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	newAddr, err := awaitPromotion(sentinelAddrs[0], primary.Addr(), promotion)
	if err != nil {
		for _, s := range sentinels {
			t.Logf("sentinel %s's log ends:\n%s", s.Addr(), s.LogTail())
		}
		t.Fatal(err)
	}
	promoted.Store(true)
	t.Logf("%s promoted %s after the kill", newAddr, time.Since(killed).Round(time.Millisecond))
	for deadline := time.Now().Add(promotion); okAfter.Load() < after; {
		if time.Now().After(deadline) {
			stop()
			samples.log(t)
			t.Fatalf("%d calls succeeded in the %s after the promotion, want %d", okAfter.Load(), promotion, after)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()

	reader := redis.NewClient(&redis.Options{Addr: newAddr})
	t.Cleanup(func() { reader.Close() })
	fresh := scoped.New(redisstore.New(reader))
	var acked, lost, unknown int64
	for k, name := range names {
		final, err := scoped.Read[int](t.Context(), fresh, name)
		if err != nil {
			t.Fatal(err)
		}
		ok, unk, failed := counts[k].ok.Load(), counts[k].unknown.Load(), counts[k].failed.Load()
		acked, unknown = acked+ok, unknown+unk
		if n := ok - int64(final); n > 0 {
			lost += n
		}
		t.Logf("%s: %d successes, %d unknown, %d failed; final counter %d", name, ok, unk, failed, final)
		switch {
		case int64(final) > ok+unk:
			t.Errorf("%s: final counter %d, over %d successes + unknown outcomes", name, final, ok+unk)
		case wait && int64(final) < ok:
			t.Errorf("%s: final counter %d, under its %d successes: acknowledged increments lost", name, final, ok)
		}
	}
	t.Logf("failover with WithReplicas %v: %d acknowledged increments, %d unknown outcomes, %d acknowledged increments lost",
		wait, acked, unknown, lost)
	samples.log(t)
}

// awaitPromotion asks the Sentinel at addr for the primary's address until
// it is another than old, and that server says it is a primary, and
// returns it; it gives up after timeout.
func awaitPromotion(addr, old string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer s.Close()
	var last error
	for {
		hostPort, err := s.GetMasterAddrByName(ctx, testenv.SentinelMaster).Result()
		if err == nil && len(hostPort) == 2 {
			if cur := hostPort[0] + ":" + hostPort[1]; cur != old {
				if err = isPrimary(ctx, cur); err == nil {
					return cur, nil
				}
			}
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no replica promoted in %s (last: %v)", timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// isPrimary returns nil if the server at addr says it is a primary.
func isPrimary(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "\r\nrole:master\r\n") && !strings.HasPrefix(info, "# Replication\r\nrole:master\r\n") {
		return fmt.Errorf("%s is not a primary yet", addr)
	}
	return nil
}
