package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// TestReplicasUnacknowledgedIsUnknown runs WithReplicas(1, 50ms) on a
// private primary without replicas: the write reaches the primary, WAIT
// counts no replica, and the call must end with ErrCommitUnknown, never
// nil, although the engine sends the write again and finds its own token.
// Once a replica is attached, the same calls succeed (with a longer
// timeout, for a loaded machine). It does so with
// writes sent on their own and in pipelines.
func TestReplicasUnacknowledgedIsUnknown(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  redisstore.Option
	}{
		{"Direct", redisstore.WithoutPipelining()},
		{"Pipelined", redisstore.WithPipelining(0, 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			primary := testenv.StartRedis(t)
			c := redis.NewClient(&redis.Options{Addr: primary.Addr()})
			t.Cleanup(func() { c.Close() })
			s := redisstore.New(c, tt.opt, redisstore.WithReplicas(1, 50*time.Millisecond))
			e := scoped.New(s)
			plainStore := redisstore.New(c) // reads the primary, waits for nothing
			plain := scoped.New(plainStore)

			_, err := scoped.Update(ctx, e, "counter", increment)
			if !errors.Is(err, scoped.ErrCommitUnknown) {
				t.Fatalf("increment without a replica: %v, want ErrCommitUnknown", err)
			}
			if n, err := scoped.Read[int](ctx, plain, "counter"); err != nil || n != 1 {
				t.Fatalf("the primary holds %d (%v), want the unacknowledged write, 1", n, err)
			}

			// A Load that finds the create's record fails too: the engine
			// looks for a create that way.
			if _, err := s.Load(ctx, "counter"); !errors.Is(err, redisstore.ErrNotReplicated) {
				t.Fatalf("load of the unacknowledged create: %v, want ErrNotReplicated", err)
			}

			// The store alone: a write and a copy of it (what the engine
			// sends to learn the outcome) both fail, the copy although it
			// finds its own record.
			rec, err := plainStore.Load(ctx, "counter")
			if err != nil {
				t.Fatal(err)
			}
			next := scoped.Write{Value: []byte{0x05}, Writer: scoped.NewToken()}
			for _, try := range []string{"write", "copy"} {
				_, ok, err := s.CompareAndSet(ctx, "counter", rec.Revision(), next)
				var rerr *redisstore.ReplicationError
				if ok || !errors.As(err, &rerr) || !errors.Is(err, redisstore.ErrNotReplicated) || errors.Is(err, scoped.ErrNotApplied) {
					t.Fatalf("%s without a replica: ok %v, %v; want a *ReplicationError, not ErrNotApplied", try, ok, err)
				}
				if rerr.Want != 1 || rerr.Got != 0 {
					t.Errorf("%s: %+v, want 1 replica asked for, 0 counted", try, rerr)
				}
			}
			if _, _, err := s.Delete(ctx, "counter", scoped.Revision{Version: rec.Version + 1, Writer: next.Writer}); !errors.Is(err, redisstore.ErrNotReplicated) {
				t.Fatalf("delete without a replica: %v, want ErrNotReplicated", err)
			}

			testenv.StartRedisReplica(t, primary.Addr())
			// With a replica, and a timeout that a loaded machine meets.
			s = redisstore.New(c, tt.opt, redisstore.WithReplicas(1, 2*time.Second))
			e = scoped.New(s)
			// The delete, a copy, finds no record now: a refusal, which
			// waits for nothing.
			if _, ok, err := s.Delete(ctx, "counter", scoped.Revision{Version: rec.Version + 1, Writer: next.Writer}); ok || err != nil {
				t.Fatalf("delete copy: ok %v, %v; want a refusal", ok, err)
			}
			for i := 1; i <= 3; i++ {
				n, err := scoped.Update(ctx, e, "counter", increment)
				if err != nil || n != i {
					t.Fatalf("increment %d with a replica: %d, %v", i, n, err)
				}
			}
			if err := e.Delete(ctx, "counter"); err != nil {
				t.Fatalf("delete with a replica: %v", err)
			}
		})
	}
}

// TestReplicasUnsupportedClient checks that a Store WithReplicas on a
// Ring refuses every write, before sending it, with an error matching
// ErrReplicasUnsupported and scoped.ErrNotApplied.
func TestReplicasUnsupportedClient(t *testing.T) {
	c := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { c.Close() })
	s := redisstore.New(c, redisstore.WithReplicas(1, time.Second))
	next := scoped.Write{Value: []byte{0x01}, Writer: scoped.NewToken()}
	if _, _, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, next); !errors.Is(err, redisstore.ErrReplicasUnsupported) || !errors.Is(err, scoped.ErrNotApplied) {
		t.Errorf("CompareAndSet: %v, want ErrReplicasUnsupported and ErrNotApplied", err)
	}
	if _, _, err := s.Delete(t.Context(), "a", scoped.Revision{}); !errors.Is(err, redisstore.ErrReplicasUnsupported) {
		t.Errorf("Delete: %v, want ErrReplicasUnsupported", err)
	}
}
