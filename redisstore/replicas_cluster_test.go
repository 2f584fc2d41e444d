package redisstore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// TestClusterReplicas runs WithReplicas on a private Redis Cluster of three
// primaries with one replica each: writes and CompareAndSetMany succeed
// with one replica asked for; with two asked for, which no primary has,
// every call ends with ErrCommitUnknown, never success; and a write to a
// slot that moved meanwhile is refused (MOVED: not applied), after which
// the client's reloaded slot map sends it to the slot's new master.
func TestClusterReplicas(t *testing.T) {
	nodes := testenv.StartRedisClusterWithReplicas(t, 3)
	addrs := testenv.Addrs(nodes)
	var traffic clusterTraffic
	c := redis.NewClusterClient(traffic.options(addrs))
	t.Cleanup(func() { c.Close() })
	prefix := testenv.UniqueName("scopedtest:") + ":"
	prims, _, ids := primaries(t, addrs[0])

	t.Run("Acknowledged", func(t *testing.T) {
		ctx := t.Context()
		s := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithReplicas(1, time.Second))
		e := scoped.New(s)
		for _, p := range prims {
			name := nameOn(t, c, s, p, "ack")
			for i := 1; i <= 3; i++ {
				if n, err := scoped.Update(ctx, e, name, increment); err != nil || n != i {
					t.Fatalf("increment %d of %s on %s: %d, %v", i, name, p, n, err)
				}
			}
			if err := e.Delete(ctx, name); err != nil {
				t.Fatalf("delete of %s on %s: %v", name, p, err)
			}
		}
		changes := []scoped.Change{
			{Name: "{many}:a", Action: scoped.ActionSet, Write: scoped.Write{Value: []byte{0x01}, Writer: scoped.NewToken()}},
			{Name: "{many}:b", Action: scoped.ActionSet, Write: scoped.Write{Value: []byte{0x02}, Writer: scoped.NewToken()}},
		}
		if _, ok, err := s.CompareAndSetMany(ctx, changes); !ok || err != nil {
			t.Fatalf("CompareAndSetMany: ok %v, %v", ok, err)
		}
	})

	t.Run("TooFewReplicas", func(t *testing.T) {
		ctx := t.Context()
		s := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithReplicas(2, 50*time.Millisecond))
		e := scoped.New(s)
		for _, p := range prims {
			name := nameOn(t, c, s, p, "few")
			if _, err := scoped.Update(ctx, e, name, increment); !errors.Is(err, scoped.ErrCommitUnknown) {
				t.Fatalf("increment of %s on %s with 2 replicas asked for: %v, want ErrCommitUnknown", name, p, err)
			}
		}
		next := scoped.Write{Value: []byte{0x01}, Writer: scoped.NewToken()}
		var rerr *redisstore.ReplicationError
		if _, ok, err := s.CompareAndSet(ctx, "{few}", scoped.Revision{}, next); ok || !errors.As(err, &rerr) || errors.Is(err, scoped.ErrNotApplied) {
			t.Fatalf("CompareAndSet: ok %v, %v; want a *ReplicationError, not ErrNotApplied", ok, err)
		}
		if rerr.Want != 2 || rerr.Got != 1 {
			t.Errorf("CompareAndSet: %+v, want 2 replicas asked for, 1 counted", rerr)
		}
		changes := []scoped.Change{
			{Name: "{fewmany}:a", Action: scoped.ActionSet, Write: scoped.Write{Value: []byte{0x01}, Writer: scoped.NewToken()}},
			{Name: "{fewmany}:b", Action: scoped.ActionSet, Write: scoped.Write{Value: []byte{0x02}, Writer: scoped.NewToken()}},
		}
		if _, ok, err := s.CompareAndSetMany(ctx, changes); ok || !errors.Is(err, redisstore.ErrNotReplicated) || errors.Is(err, scoped.ErrNotApplied) {
			t.Fatalf("CompareAndSetMany: ok %v, %v; want ErrNotReplicated, not ErrNotApplied", ok, err)
		}
	})

	t.Run("Moved", func(t *testing.T) {
		ctx := t.Context()
		s := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithReplicas(1, time.Second))
		from, to := prims[0], prims[1]
		name := nameOn(t, c, s, from, "moved") // the client's map has its slot at from
		slot, err := c.ClusterKeySlot(ctx, s.Key(name)).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range prims { // the slot is empty: it moves at once
			r := redis.NewClient(&redis.Options{Addr: p})
			err := r.Do(ctx, "cluster", "setslot", slot, "node", ids[to]).Err()
			r.Close()
			if err != nil {
				t.Fatalf("CLUSTER SETSLOT %d NODE on %s: %v", slot, p, err)
			}
		}
		write := scoped.Write{Value: []byte{0x01}, Writer: scoped.NewToken()}
		_, ok, err := s.CompareAndSet(ctx, name, scoped.Revision{}, write)
		if ok || !errors.Is(err, scoped.ErrNotApplied) || !strings.Contains(err.Error(), "MOVED") {
			t.Fatalf("write to the moved slot: ok %v, %v; want MOVED, not applied", ok, err)
		}
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			_, ok, err = s.CompareAndSet(ctx, name, scoped.Revision{}, write)
			if ok || time.Now().After(deadline) {
				break
			}
		}
		if !ok || err != nil {
			t.Fatalf("write after the slot map's reload: ok %v, %v", ok, err)
		}
		if m, err := c.MasterForKey(ctx, s.Key(name)); err != nil || m.Options().Addr != to {
			t.Errorf("scope %s is at %v (%v); want %s", name, m, err, to)
		}
	})
}
