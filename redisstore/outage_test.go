package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// A server that is down: calls made before it stopped succeed; calls made
// while it is down fail with errors matching scoped.ErrNotApplied (the dial
// is refused), on their own and in pipelines, and none of them is applied
// once it is back. A closed client's calls are not applied either. A
// listing fails the same way.
func TestServerDownNotApplied(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialerRetries: 1})
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	recs := map[string]scoped.Record{}
	for _, mode := range modes {
		s := redisstore.New(c, mode.opt)
		for _, name := range []string{"a", "b"} {
			rec, ok, err := s.CompareAndSet(ctx, mode.name+name, scoped.Revision{}, scoped.Write{Value: []byte(name), Writer: scoped.NewToken()})
			if !ok || err != nil {
				t.Fatalf("%s CompareAndSet before the stop = %v, %v", mode.name, ok, err)
			}
			recs[mode.name+name] = rec
		}
		if _, err := s.Load(ctx, mode.name+"a"); err != nil {
			t.Fatalf("%s Load before the stop: %v", mode.name, err)
		}
	}

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	calls := func(s *redisstore.Store, prefix string) map[string]error {
		a, b := recs[prefix+"a"], recs[prefix+"b"]
		errs := map[string]error{}
		_, errs["Load"] = s.Load(ctx, prefix+"a")
		_, _, errs["CompareAndSet"] = s.CompareAndSet(ctx, prefix+"a", a.Revision(), scoped.Write{Value: []byte("changed"), Writer: scoped.NewToken()})
		_, _, errs["CompareAndSet of a new scope"] = s.CompareAndSet(ctx, prefix+"c", scoped.Revision{}, scoped.Write{Value: []byte("new"), Writer: scoped.NewToken()})
		_, _, errs["Delete"] = s.Delete(ctx, prefix+"b", b.Revision())
		errs["List"] = listErr(t, s, prefix)
		return errs
	}
	for _, mode := range modes {
		for what, err := range calls(redisstore.New(c, mode.opt), mode.name) {
			if !errors.Is(err, scoped.ErrNotApplied) {
				t.Errorf("%s %s while the server is down: %v; want an error matching scoped.ErrNotApplied", mode.name, what, err)
			}
		}
	}

	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	s := redisstore.New(c)
	awaitUp(t, s)
	for _, mode := range modes {
		for name, want := range map[string]scoped.Record{"a": recs[mode.name+"a"], "b": recs[mode.name+"b"], "c": {}} {
			if got, err := s.Load(ctx, mode.name+name); err != nil || got.Revision() != want.Revision() {
				t.Errorf("%s %s after the restart = %+v, %v; want %+v", mode.name, name, got, err, want)
			}
		}
	}

	c.Close()
	for _, mode := range modes {
		for what, err := range calls(redisstore.New(c, mode.opt), mode.name) {
			if !errors.Is(err, redis.ErrClosed) || !errors.Is(err, scoped.ErrNotApplied) {
				t.Errorf("%s %s on a closed client: %v; want redis.ErrClosed matching scoped.ErrNotApplied", mode.name, what, err)
			}
		}
	}
}

// awaitUp waits until s answers a Load: after a restart, go-redis fails
// dials at once for up to a second after it saw as many dial errors as its
// pool holds connections.
func awaitUp(t *testing.T, s *redisstore.Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Load(t.Context(), "probe")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server does not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slowLoadArgs configure a private server whose data (an append-only file,
// synced on every write) loads slowly, answering LOADING meanwhile: a
// delay per command read, and clients served every 1024 of them.
var slowLoadArgs = []string{
	"--appendonly", "yes", "--appendfsync", "always",
	"--key-load-delay", "100", "--loading-process-events-interval-bytes", "1024",
}

// noFastFail is a pool size for clients that must reach a server as soon
// as it is back. Once a go-redis pool saw as many failed dials as its
// size, it fails every dial at once with the last error, until a dial
// tried once a second succeeds: a server that loads for less than that
// would never be seen loading.
const noFastFail = 10000

// fill writes n filler keys, so that loading them takes a while.
func fill(t *testing.T, c *redis.Client, n int) {
	t.Helper()
	_, err := c.Pipelined(t.Context(), func(p redis.Pipeliner) error {
		for i := range n {
			p.Set(t.Context(), fmt.Sprint("filler:", i), i, 0)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A server loading its data refuses scripts with LOADING: errors matching
// scoped.ErrNotApplied, and the refused writes are not applied once it has
// loaded. Each kind of call, on its own and in a pipeline, is made until it
// is answered LOADING, or succeeds after the load.
func TestLoadingRefusals(t *testing.T) {
	srv := testenv.StartRedis(t, slowLoadArgs...)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1, PoolSize: noFastFail})
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()

	type probe struct {
		name    string
		call    func(s *redisstore.Store) error
		applied bool // succeeded, after the load
		refused bool // answered LOADING
	}
	recs := map[string]scoped.Record{}
	var probes []*probe
	for _, mode := range modes {
		s := redisstore.New(c, mode.opt)
		for _, name := range []string{"update", "delete"} {
			rec, ok, err := s.CompareAndSet(ctx, mode.name+name, scoped.Revision{}, scoped.Write{Value: []byte(name), Writer: scoped.NewToken()})
			if !ok || err != nil {
				t.Fatalf("CompareAndSet = %v, %v", ok, err)
			}
			recs[mode.name+name] = rec
		}
		probes = append(probes,
			&probe{name: mode.name + "load", call: func(s *redisstore.Store) error {
				_, err := s.Load(ctx, mode.name+"update")
				return err
			}},
			&probe{name: mode.name + "create", call: func(s *redisstore.Store) error {
				_, _, err := s.CompareAndSet(ctx, mode.name+"create", scoped.Revision{}, scoped.Write{Value: []byte("new"), Writer: scoped.NewToken()})
				return err
			}},
			&probe{name: mode.name + "update", call: func(s *redisstore.Store) error {
				_, _, err := s.CompareAndSet(ctx, mode.name+"update", recs[mode.name+"update"].Revision(), scoped.Write{Value: []byte("changed"), Writer: scoped.NewToken()})
				return err
			}},
			&probe{name: mode.name + "delete", call: func(s *redisstore.Store) error {
				_, _, err := s.Delete(ctx, mode.name+"delete", recs[mode.name+"delete"].Revision())
				return err
			}},
		)
	}
	fill(t, c, 6000)

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	restarted := make(chan error, 1)
	go func() { restarted <- srv.Restart(ctx) }()
	var wg sync.WaitGroup
	for i, p := range probes {
		s := redisstore.New(c, modes[i/4].opt)
		wg.Go(func() {
			for {
				err := p.call(s)
				switch {
				case err == nil:
					p.applied = true
					return
				case isReply(err, "LOADING "):
					p.refused = true
					if !errors.Is(err, scoped.ErrNotApplied) {
						t.Errorf("%s answered LOADING: %v; want an error matching scoped.ErrNotApplied", p.name, err)
					}
					return
				}
				time.Sleep(10 * time.Millisecond) // not up yet, or an old connection
			}
		})
	}
	wg.Wait()
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}

	s := redisstore.New(c)
	for _, p := range probes {
		if !p.refused {
			t.Errorf("%s was never answered LOADING: the load was too short (the call succeeded: %v)", p.name, p.applied)
		}
		if strings.HasSuffix(p.name, "load") {
			continue
		}
		rec, err := s.Load(ctx, p.name) // the scope the probe writes
		if err != nil {
			t.Fatal(err)
		}
		if changed := rec.Revision() != recs[p.name].Revision(); changed != p.applied {
			t.Errorf("%s: the scope changed: %v; the call succeeded: %v", p.name, changed, p.applied)
		}
	}
}

// A context that ends while go-redis waits for a pooled connection is told
// apart from one that ends while the command is on the wire: go-redis
// returns the context's error only from its waits, and during I/O at most
// a socket deadline expires ("i/o timeout"). The first is not applied; the
// second may be, and is: the frozen server runs the command once thawed.
func TestContextEndsWaitingForConnection(t *testing.T) {
	srv := testenv.StartRedis(t)
	for _, contextTimeout := range []bool{false, true} {
		t.Run(fmt.Sprint("ContextTimeoutEnabled=", contextTimeout), func(t *testing.T) {
			c := redis.NewClient(&redis.Options{
				Addr: srv.Addr(), PoolSize: 1, PoolTimeout: 10 * time.Second,
				ReadTimeout: 300 * time.Millisecond, MaxRetries: -1, ContextTimeoutEnabled: contextTimeout,
			})
			t.Cleanup(func() { c.Close() })
			s := redisstore.New(c, redisstore.WithoutPipelining(), redisstore.WithPrefix(testenv.UniqueName("t")))
			rec, ok, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("one"), Writer: scoped.NewToken()})
			if !ok || err != nil {
				t.Fatalf("CompareAndSet = %v, %v", ok, err)
			}

			if err := srv.Freeze(); err != nil {
				t.Fatal(err)
			}
			thawed := false
			thaw := func() {
				if !thawed {
					thawed = true
					if err := srv.Thaw(); err != nil {
						t.Fatal(err)
					}
				}
			}
			defer thaw()
			onWire := make(chan error, 1)
			go func() { // takes the only connection, and waits on the frozen server
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				defer cancel()
				_, _, err := s.CompareAndSet(ctx, "a", rec.Revision(), scoped.Write{Value: []byte("two"), Writer: scoped.NewToken()})
				onWire <- err
			}()
			time.Sleep(50 * time.Millisecond)
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			_, _, err = s.CompareAndSet(ctx, "b", scoped.Revision{}, scoped.Write{Value: []byte("new"), Writer: scoped.NewToken()})
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, scoped.ErrNotApplied) {
				t.Errorf("CompareAndSet waiting for the pool's only connection: %v; want context.DeadlineExceeded matching scoped.ErrNotApplied", err)
			}
			err = <-onWire
			if err == nil || errors.Is(err, scoped.ErrNotApplied) || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("CompareAndSet whose reply never came: %v; want an I/O timeout, not matching scoped.ErrNotApplied", err)
			}

			thaw()
			awaitUp(t, s)
			if got, err := s.Load(t.Context(), "b"); err != nil || got.Version != 0 {
				t.Errorf("b = %+v, %v; want no record: its write was never sent", got, err)
			}
			if got, err := s.Load(t.Context(), "a"); err != nil || got.Version != 2 {
				t.Errorf("a = %+v, %v; want version 2: the server ran the write whose reply never came", got, err)
			}
		})
	}
}
