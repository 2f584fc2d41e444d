package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
	"github.com/scoped-go/scoped/storetest"
)

// TestCluster runs the store on a private 3-master Redis Cluster through a
// redis.ClusterClient. The subtests share the cluster, each under key
// prefixes of its own.
func TestCluster(t *testing.T) {
	nodes := testenv.StartRedisCluster(t, 3)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.Addrs(nodes)})
	t.Cleanup(func() { c.Close() })
	newPrefix := func() string { return testenv.UniqueName("scopedtest:") + ":" }

	for _, tt := range []struct {
		name string
		opts []redisstore.Option
	}{
		{"Conformance", nil},
		{"ConformancePipelined", []redisstore.Option{redisstore.WithPipelining(0, 2)}}, // every call through a pipeline
	} {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Run(t, storetest.Harness{
				NewStore: func(t *testing.T, clock *storetest.Clock) scoped.Store {
					clock.RealTime()
					prefix := newPrefix()
					s := redisstore.New(c, append([]redisstore.Option{redisstore.WithPrefix(prefix)}, tt.opts...)...)
					return remember(s, c, prefix)
				},
				Footprint: footprint,
			})
		})
	}
	t.Run("ManyScopes", func(t *testing.T) {
		testClusterManyScopes(t, c, newPrefix())
	})
	t.Run("HashTagNames", func(t *testing.T) {
		testClusterHashTagNames(t, c, newPrefix())
	})
	t.Run("HashTagPrefix", func(t *testing.T) {
		// A prefix with a hash tag puts every scope in one slot: still one
		// key per scope, so still no cross-slot command.
		testClusterHashTagNames(t, c, "{"+newPrefix()+"}")
	})
}

// testClusterManyScopes increments many scopes, spread over every master,
// from two engines (two processes) with concurrent goroutines each, and
// checks each scope's exact total.
func testClusterManyScopes(t *testing.T, c *redis.ClusterClient, prefix string) {
	s := redisstore.New(c, redisstore.WithPrefix(prefix))
	engines := []*scoped.Engine{scoped.New(s), scoped.New(s)}
	const scopes, workers, rounds = 48, 8, 4
	names := make([]string, scopes)
	for i := range names {
		names[i] = fmt.Sprintf("scope-%d", i)
	}
	var wg sync.WaitGroup
	for w := range workers {
		e := engines[w%len(engines)]
		wg.Go(func() {
			for r := range rounds {
				for i := range names {
					// Each worker walks the scopes from its own starting
					// point, so that several write each scope at once.
					name := names[(i+w*scopes/workers+r)%scopes]
					if _, err := scoped.Update(t.Context(), e, name, increment); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, name := range names {
		if n, err := scoped.Read[int](t.Context(), engines[0], name); err != nil || n != workers*rounds {
			t.Errorf("scope %s = %d, %v; want %d", name, n, err, workers*rounds)
		}
	}
	// The scopes landed on every master, so the cluster client routed the
	// scripts to all three.
	var mu sync.Mutex
	keys := map[string]int{}
	err := c.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error {
		found, err := m.Keys(ctx, prefix+"*").Result()
		mu.Lock()
		keys[m.Options().Addr] = len(found)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for addr, n := range keys {
		if n == 0 {
			t.Errorf("master %s holds none of the %d scopes", addr, scopes)
		}
		total += n
	}
	if len(keys) != 3 || total != scopes {
		t.Errorf("keys per master = %v; want %d keys over 3 masters", keys, scopes)
	}
	t.Logf("keys per master: %v", keys)
}

// testClusterHashTagNames writes, reads and deletes scopes whose names hold
// braces, which change the hash tag Redis Cluster takes from the key.
func testClusterHashTagNames(t *testing.T, c *redis.ClusterClient, prefix string) {
	s := redisstore.New(c, redisstore.WithPrefix(prefix))
	e := scoped.New(s)
	names := []string{
		"{", "}", "{}", "}{", "{{", "}}", "{x}", "a{b}c", "a}b{c}", "x{}y",
		"{user:42}:cart", "é{ü}", strings.Repeat("{", scoped.MaxNameLength),
	}
	for _, name := range names {
		for want := 1; want <= 2; want++ {
			if n, err := scoped.Update(t.Context(), e, name, increment); err != nil || n != want {
				t.Fatalf("increment %d of %q = %d, %v", want, name, n, err)
			}
		}
		fresh := scoped.New(s) // reads the store, not a cache
		if n, err := scoped.Read[int](t.Context(), fresh, name); err != nil || n != 2 {
			t.Errorf("Read %q = %d, %v; want 2", name, n, err)
		}
		if n, err := c.Exists(t.Context(), s.Key(name)).Result(); err != nil || n != 1 {
			t.Errorf("EXISTS %q (scope %q) = %d, %v; want 1", s.Key(name), name, n, err)
		}
		if err := e.Delete(t.Context(), name); err != nil {
			t.Errorf("Delete %q: %v", name, err)
		}
		if n, err := scoped.Read[int](t.Context(), fresh, name); err != nil || n != 0 {
			t.Errorf("Read %q after Delete = %d, %v; want 0", name, n, err)
		}
	}
}
