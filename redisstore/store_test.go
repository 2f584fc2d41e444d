package redisstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
	"github.com/scoped-go/scoped/storetest"
)

// newMiniredis returns a store on a fresh in-process miniredis.
func newMiniredis(t *testing.T) (*redisstore.Store, redis.UniversalClient) {
	s, c, _ := newMiniredisServer(t)
	return s, c
}

// newMiniredisServer returns a store on a fresh in-process miniredis, and
// the server.
func newMiniredisServer(t *testing.T) (*redisstore.Store, redis.UniversalClient, *miniredis.Miniredis) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	return remember(redisstore.New(c), c, redisstore.DefaultPrefix), c, m
}

// realStore opens stores on the test Redis server, each under a key prefix
// of its own that is deleted at cleanup.
func realStore(opts ...redisstore.Option) func(t *testing.T) (*redisstore.Store, redis.UniversalClient) {
	return func(t *testing.T) (*redisstore.Store, redis.UniversalClient) {
		c := testenv.Redis(t)
		prefix := testenv.UniqueName("scopedtest:") + ":"
		t.Cleanup(func() { testenv.DeleteKeys(t, c, prefix+"*") })
		s := redisstore.New(c, append([]redisstore.Option{redisstore.WithPrefix(prefix)}, opts...)...)
		return remember(s, c, prefix), c
	}
}

var (
	newReal      = realStore()
	newPipelined = realStore(redisstore.WithPipelining(0, 2)) // every call through a pipeline
)

// opened remembers the client and key prefix of each store a test opened,
// for footprint.
var opened sync.Map // *redisstore.Store → storeKeys

type storeKeys struct {
	client redis.UniversalClient
	prefix string
}

func remember(s *redisstore.Store, c redis.UniversalClient, prefix string) *redisstore.Store {
	opened.Store(s, storeKeys{c, prefix})
	return s
}

// footprint counts the keys under the prefix of s, a store that remember
// was told about: the conformance suite's storetest.Footprint.
func footprint(t *testing.T, s scoped.Store) int {
	t.Helper()
	v, ok := opened.Load(s)
	if !ok {
		t.Fatalf("footprint of a store that was not remembered")
	}
	k := v.(storeKeys)
	return countKeys(t, k.client, k.prefix)
}

// countKeys counts the keys whose names begin with prefix, with SCAN MATCH,
// on every master of a cluster or shard of a ring.
func countKeys(t *testing.T, c redis.UniversalClient, prefix string) int {
	t.Helper()
	pattern := globEscape(prefix) + "*"
	var mu sync.Mutex
	total := 0
	scan := func(ctx context.Context, c redis.Cmdable) error {
		n := 0
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		mu.Lock()
		total += n
		mu.Unlock()
		return iter.Err()
	}
	var err error
	switch c := c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	case *redis.Ring:
		err = c.ForEachShard(t.Context(), func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	default:
		err = scan(t.Context(), c)
	}
	if err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	return total
}

// globEscape escapes the characters that SCAN MATCH patterns give meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestConformanceMiniredis runs the suite on miniredis, whose time the
// suite's clock moves with FastForward.
func TestConformanceMiniredis(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		NewStore: func(t *testing.T, clock *storetest.Clock) scoped.Store {
			s, _, m := newMiniredisServer(t)
			clock.Follow(m.FastForward)
			return s
		},
		Footprint: footprint,
	})
}

// TestConformanceRedis runs the suite on the real Redis, in real time: its
// expiry tests wait for short TTLs to pass on the server.
func TestConformanceRedis(t *testing.T) {
	storetest.Run(t, realHarness(newReal))
}

func TestConformanceRedisPipelined(t *testing.T) {
	storetest.Run(t, realHarness(newPipelined))
}

// realHarness is the suite's Harness for stores that open returns on a real
// Redis server, whose clock nothing moves.
func realHarness(open func(*testing.T) (*redisstore.Store, redis.UniversalClient)) storetest.Harness {
	return storetest.Harness{
		NewStore: func(t *testing.T, clock *storetest.Clock) scoped.Store {
			clock.RealTime()
			s, _ := open(t)
			return s
		},
		Footprint: footprint,
	}
}

// A flushed script cache must not fail a call: EVALSHA answers NOSCRIPT and
// the store falls back to EVAL.
func TestScriptFlushMidRun(t *testing.T) {
	servers(t, func(t *testing.T, s *redisstore.Store, c redis.UniversalClient) {
		e := scoped.New(s)
		const workers, increments = 4, 100
		stop := make(chan struct{})
		var flushes sync.WaitGroup
		flushes.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					if err := c.ScriptFlush(t.Context()).Err(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range increments {
					if _, err := scoped.Update(t.Context(), e, "n", increment); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(stop)
		flushes.Wait()
		if n, err := scoped.Read[int](t.Context(), e, "n"); err != nil || n != workers*increments {
			t.Fatalf("counter = %d, %v; want %d", n, err, workers*increments)
		}
	})
}

// 64 goroutines × 200 increments of one scope on the real Redis end at
// exactly 12,800.
func TestContendedIncrements(t *testing.T) {
	s, _ := newReal(t)
	e := scoped.New(s)
	const workers, increments = 64, 200
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range increments {
				if _, err := scoped.Update(context.Background(), e, "hot", increment); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	n, err := scoped.Read[int](t.Context(), e, "hot")
	if err != nil || n != workers*increments {
		t.Fatalf("counter = %d, %v; want %d", n, err, workers*increments)
	}
	st := e.Stats()
	t.Logf("%d increments: %d writes, %d loads, %d conflicts, %.4f retries/call, %.1f calls/write",
		n, st.Writes, st.Loads, st.Conflicts, float64(st.Retries)/float64(n), float64(n)/float64(st.Writes))
}

func increment(n *int) (int, error) {
	*n++
	return *n, nil
}
