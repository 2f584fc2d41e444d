package redisstore_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/lua"
	"github.com/scoped-go/scoped/redisstore"
	"github.com/scoped-go/scoped/storetest"
)

// TestCluster runs the store on a private 3-master Redis Cluster through a
// redis.ClusterClient. The subtests share the cluster, each under key
// prefixes of its own.
func TestCluster(t *testing.T) {
	addrs := testenv.Addrs(testenv.StartRedisCluster(t, 3))
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
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
	t.Run("KeySlot", func(t *testing.T) {
		testClusterKeySlot(t, c)
	})
	t.Run("Transact", func(t *testing.T) {
		testClusterTransact(t, addrs, newPrefix())
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

// testClusterKeySlot checks the store's hash slots against CLUSTER KEYSLOT:
// the known ones, and keys with every kind of braces.
func testClusterKeySlot(t *testing.T, c *redis.ClusterClient) {
	keys := []string{"scoped:{user42}:cart", "scoped:{user42}:wallet", "{}", "}{", "a{b}c{d}", "é{ü}", "{{}}", "x{y"}
	for _, k := range knownSlots {
		if got, err := c.ClusterKeySlot(t.Context(), k.key).Result(); err != nil || int(got) != k.slot {
			t.Errorf("CLUSTER KEYSLOT %q = %d, %v; the test expects %d", k.key, got, err, k.slot)
		}
		keys = append(keys, k.key)
	}
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("scoped:scope-%d", i))
	}
	for _, key := range keys {
		want, err := c.ClusterKeySlot(t.Context(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := redisstore.KeySlot(key); got != int(want) {
			t.Errorf("KeySlot(%q) = %d; CLUSTER KEYSLOT says %d", key, got, want)
		}
	}
}

// scriptCounter counts the calls of casmany.lua a client sends, alone or in
// pipelines.
type scriptCounter struct{ n atomic.Int64 }

func (h *scriptCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}

func (h *scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			h.count(cmd)
		}
		return next(ctx, cmds)
	}
}

func (h *scriptCounter) count(cmd redis.Cmder) {
	sum := sha1.Sum([]byte(lua.CASMany()))
	if args := cmd.Args(); len(args) > 1 && (args[1] == hex.EncodeToString(sum[:]) || args[1] == lua.CASMany()) {
		h.n.Add(1)
	}
}

// testClusterTransact: a Transact over scopes that share a hash tag commits
// both; one over scopes in different hash slots fails with
// scoped.ErrNotColocated, a *CrossSlotError naming both slots, without
// sending a script or writing anything.
func testClusterTransact(t *testing.T, addrs []string, prefix string) {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { c.Close() })
	scripts := &scriptCounter{}
	c.AddHook(scripts)
	e := scoped.New(redisstore.New(c, redisstore.WithPrefix(prefix)))
	move := func(names ...string) error {
		_, err := scoped.Transact(t.Context(), e, names, func(tx *scoped.Tx) (struct{}, error) {
			from, err := scoped.TxValue[int](tx, names[0])
			if err != nil {
				return struct{}{}, err
			}
			to, err := scoped.TxValue[int](tx, names[1])
			if err != nil {
				return struct{}{}, err
			}
			*from -= 5
			*to += 5
			return struct{}{}, nil
		})
		return err
	}
	if err := move("{u1}:a", "{u1}:b"); err != nil {
		t.Fatalf("Transact over {u1}:a and {u1}:b: %v", err)
	}
	if scripts.n.Load() == 0 {
		t.Fatal("Transact over {u1}:a and {u1}:b sent no casmany.lua")
	}
	for name, want := range map[string]int{"{u1}:a": -5, "{u1}:b": 5} {
		if n, err := scoped.Read[int](t.Context(), scoped.New(redisstore.New(c, redisstore.WithPrefix(prefix))), name); err != nil || n != want {
			t.Errorf("%s = %d, %v; want %d", name, n, err, want)
		}
	}

	a, b := "a", "b"
	for i := 0; redisstore.KeySlot(prefix+a) == redisstore.KeySlot(prefix+b); i++ {
		b = fmt.Sprint("b", i)
	}
	slotA, _ := c.ClusterKeySlot(t.Context(), prefix+a).Result()
	slotB, _ := c.ClusterKeySlot(t.Context(), prefix+b).Result()
	if slotA == slotB {
		t.Fatalf("%q and %q share slot %d", prefix+a, prefix+b, slotA)
	}
	before := scripts.n.Load()
	err := move(a, b)
	var cross *redisstore.CrossSlotError
	if !errors.Is(err, scoped.ErrNotColocated) || !errors.As(err, &cross) {
		t.Fatalf("Transact over %q and %q = %v; want a *CrossSlotError matching scoped.ErrNotColocated", a, b, err)
	}
	if len(cross.Slots) != 2 || int64(cross.Slots[0]) != slotA || int64(cross.Slots[1]) != slotB {
		t.Errorf("CrossSlotError = %+v; want slots %d and %d", cross, slotA, slotB)
	}
	if n, err := c.Exists(t.Context(), prefix+a).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS %s = %d, %v; want 0", prefix+a, n, err)
	}
	if n, err := c.Exists(t.Context(), prefix+b).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS %s = %d, %v; want 0", prefix+b, n, err)
	}
	if n := scripts.n.Load(); n != before {
		t.Errorf("casmany.lua sent %d times for the refused commit", n-before)
	}
}
