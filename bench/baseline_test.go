package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/scoped-go/scoped/internal/testenv"
)

// BenchmarkBaseline measures, on the same Redis as the redis backend, what
// the engine is compared with: a plain INCR (one round trip, no client
// logic: the physical limit) and the optimistic pattern the go-redis
// documentation gives (WATCH, GET, then MULTI/SET/EXEC, again on
// TxFailedErr) incrementing the same msgpack counter as the engine.
func BenchmarkBaseline(b *testing.B) {
	b.Run("incr", func(b *testing.B) {
		for _, g := range goroutines {
			b.Run(fmt.Sprintf("g%d", g), func(b *testing.B) { benchIncr(b, g) })
		}
	})
	b.Run("watch-multi", func(b *testing.B) {
		for _, contention := range contentions {
			b.Run(contention, func(b *testing.B) {
				for _, g := range goroutines {
					b.Run(fmt.Sprintf("g%d", g), func(b *testing.B) { benchWatchMulti(b, contention, g) })
				}
			})
		}
	})
}

// baselineClient returns a client of the test Redis counting its round
// trips, and a key prefix of its own, deleted at cleanup.
func baselineClient(b *testing.B) (*redis.Client, *requestCounter, string) {
	c := testenv.Redis(b)
	prefix := testenv.UniqueName("scopedbench:") + ":"
	b.Cleanup(func() { testenv.DeleteKeys(b, c, prefix+"*") })
	rc := new(requestCounter)
	c.AddHook(rc)
	return c, rc, prefix
}

func benchIncr(b *testing.B, g int) {
	b.ReportAllocs()
	c, rc, prefix := baselineClient(b)
	key := prefix + hotScope
	crew := newCrew(b.Context(), split(b.N, g), func(ctx context.Context, _ int) error {
		return c.Incr(ctx, key).Err()
	})
	b.ResetTimer()
	sent := rc.count()
	err := crew.run()
	sent = rc.count() - sent
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	got, err := c.Get(b.Context(), key).Int()
	if err != nil || got != b.N {
		b.Fatalf("INCR counter = %d, %v after %d increments", got, err, b.N)
	}
	reportMetrics(b, crew.latency(), 0, sent)
	reportRequests(b, sent)
}

func benchWatchMulti(b *testing.B, contention string, g int) {
	b.ReportAllocs()
	c, rc, prefix := baselineClient(b)
	keys := make([]string, g)
	for w := range keys {
		keys[w] = prefix + scopeOf(contention, w)
	}
	var retries atomic.Uint64
	crew := newCrew(b.Context(), split(b.N, g), func(ctx context.Context, w int) error {
		return watchMultiIncrement(ctx, c, keys[w], &retries)
	})
	b.ResetTimer()
	sent := rc.count()
	err := crew.run()
	sent = rc.count() - sent
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	want := map[string]int{}
	for w, n := range crew.shares {
		want[keys[w]] += n
	}
	for key, n := range want {
		got, err := readMsgpackCounter(b.Context(), c, key)
		if err != nil || got != n {
			b.Fatalf("WATCH/MULTI counter %s = %d, %v after %d increments", key, got, err, n)
		}
	}
	reportMetrics(b, crew.latency(), retries.Load(), sent)
	reportRequests(b, sent)
}

// watchMultiIncrement adds one to the msgpack counter at key as the go-redis
// documentation's transaction example does, counting in retries each
// attempt that lost to another writer. Unlike the example it has no retry
// limit: every increment must land for the counter to be checked.
func watchMultiIncrement(ctx context.Context, c *redis.Client, key string, retries *atomic.Uint64) error {
	txf := func(tx *redis.Tx) error {
		n, err := readMsgpackCounter(ctx, tx, key)
		if err != nil {
			return err
		}
		v, err := msgpack.Marshal(n + 1)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Set(ctx, key, v, 0)
			return nil
		})
		return err
	}
	for {
		err := c.Watch(ctx, txf, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
		retries.Add(1)
	}
}

// readMsgpackCounter returns the msgpack integer at key, 0 if there is none.
func readMsgpackCounter(ctx context.Context, c redis.Cmdable, key string) (int, error) {
	raw, err := c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n int
	if err := msgpack.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("counter %s: %w", key, err)
	}
	return n, nil
}
