package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

// Engine-level tests of writes that the store reports as not applied: the
// engine retries them, with backoff, within the caller's context, and
// reports scoped.ErrNotApplied (never scoped.ErrCommitUnknown) when they
// never went through.

// Calls through the engine while the Redis server is down fail with errors
// matching scoped.ErrNotApplied, not scoped.ErrCommitUnknown: whether the
// engine had the scope's record cached (it writes at once) or not (it
// loads first), for updates, reads and deletes. None of them is applied
// once the server is back.
func TestEngineServerDown(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialerRetries: 1})
	t.Cleanup(func() { c.Close() })
	e := scoped.New(redisstore.New(c), scoped.WithMaxAttempts(3))
	for _, name := range []string{"cached", "deleted"} {
		if n, err := scoped.Update(t.Context(), e, name, increment); n != 1 || err != nil {
			t.Fatalf("increment of %s = %d, %v", name, n, err)
		}
	}

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(ctx context.Context) error{
		"Update of a cached scope": func(ctx context.Context) error {
			_, err := scoped.Update(ctx, e, "cached", increment)
			return err
		},
		"Update of a new scope": func(ctx context.Context) error {
			_, err := scoped.Update(ctx, e, "fresh", increment)
			return err
		},
		"Read": func(ctx context.Context) error {
			_, err := scoped.Read[int](ctx, e, "unread")
			return err
		},
		"Delete of a cached scope": func(ctx context.Context) error {
			return e.Delete(ctx, "deleted")
		},
	}
	var wg sync.WaitGroup
	for what, call := range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			err := call(ctx)
			if !errors.Is(err, scoped.ErrNotApplied) || errors.Is(err, scoped.ErrCommitUnknown) {
				t.Errorf("%s while the server is down: %v; want an error matching scoped.ErrNotApplied and not scoped.ErrCommitUnknown", what, err)
			}
		})
	}
	wg.Wait()

	if err := srv.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	fresh := scoped.New(redisstore.New(c))
	awaitUp(t, redisstore.New(c))
	for name, want := range map[string]int{"cached": 1, "deleted": 1, "fresh": 0} {
		if n, err := scoped.Read[int](t.Context(), fresh, name); n != want || err != nil {
			t.Errorf("%s after the restart = %d, %v; want %d", name, n, err, want)
		}
	}
}

// Goroutines of two engines increment counters while the Redis server under
// them is killed and restarted on its append-only file, which it takes a
// moment to load, answering LOADING meanwhile. A write answered LOADING was
// not applied, and the engine must not report its outcome unknown: every
// call that reports scoped.ErrCommitUnknown must have another cause (a
// write whose reply was lost when the server died, a context that ended
// while a write was in flight). At the end each counter must be at least
// its successes and at most its successes plus its unknown outcomes.
func TestEngineRestartUnderLoad(t *testing.T) {
	const (
		workers     = 24
		scopes      = 4
		restarts    = 2
		callTimeout = 2 * time.Second
	)
	srv := testenv.StartRedis(t, slowLoadArgs...)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialerRetries: 1, PoolSize: noFastFail})
	t.Cleanup(func() { c.Close() })
	var loading loadingReplies
	c.AddHook(&loading)
	fill(t, c, 4000)
	s := redisstore.New(c)
	engines := []*scoped.Engine{scoped.New(s), scoped.New(s)}

	names := make([]string, scopes)
	counts := make([]outcomes, scopes)
	for i := range names {
		names[i] = fmt.Sprintf("counter-%d", i)
	}
	var (
		samples   errorSamples
		refusedOK atomic.Int64 // unknown outcomes whose every cause is a refusal
	)
	stopLoad := incrementLoad(engines, workers, names, callTimeout, func(k int, err error) {
		switch {
		case err == nil:
			counts[k].ok.Add(1)
		case errors.Is(err, scoped.ErrCommitUnknown):
			counts[k].unknown.Add(1)
			if strings.Contains(err.Error(), "LOADING") {
				samples.add("unknown, mentioning LOADING", err)
			}
			if refusalsOnly(err) {
				refusedOK.Add(1)
				samples.add("unknown, though every write was refused", err)
			} else {
				samples.add("unknown", err)
			}
		default:
			counts[k].failed.Add(1)
			samples.add("failed", err)
		}
	})
	for range restarts {
		time.Sleep(time.Duration(200+rand.IntN(200)) * time.Millisecond)
		compactAOF(t, c) // the load is of the fillers, not of every increment
		if err := srv.Kill(); err != nil {
			t.Error(err)
		}
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
		if err := srv.Restart(context.Background()); err != nil {
			stopLoad()
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // calls on the last server
	stopLoad()
	samples.log(t)
	t.Logf("the server answered LOADING to %d writes and %d reads", loading.writes.Load(), loading.reads.Load())

	if loading.writes.Load() == 0 {
		t.Errorf("no write was answered LOADING: the test did not test what it is for")
	}
	if n := refusedOK.Load(); n > 0 {
		t.Errorf("%d calls reported an unknown outcome, though every write they sent was refused (LOADING, or not applied)", n)
	}
	reader := scoped.New(redisstore.New(c))
	for k, name := range names {
		final, err := scoped.Read[int](t.Context(), reader, name)
		if err != nil {
			t.Fatal(err)
		}
		ok, unknown, failed := counts[k].ok.Load(), counts[k].unknown.Load(), counts[k].failed.Load()
		t.Logf("%s: %d successes, %d unknown, %d failed; final counter %d", name, ok, unknown, failed, final)
		if int64(final) < ok || int64(final) > ok+unknown {
			t.Errorf("%s: final counter %d, want between %d successes and %d successes + unknown outcomes",
				name, final, ok, ok+unknown)
		}
	}
}

// compactAOF rewrites the append-only file of the server of c, and waits
// until the rewrite is done: the file then starts with a snapshot (its RDB
// preamble) instead of every write since the server started.
func compactAOF(t *testing.T, c *redis.Client) {
	t.Helper()
	if err := c.BgRewriteAOF(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.Info(t.Context(), "persistence").Result()
		if err == nil && strings.Contains(info, "\r\naof_rewrite_in_progress:0\r\n") &&
			strings.Contains(info, "\r\naof_rewrite_scheduled:0\r\n") {
			if !strings.Contains(info, "\r\naof_last_bgrewrite_status:ok\r\n") {
				t.Fatalf("BGREWRITEAOF failed:\n%s", info)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("BGREWRITEAOF did not end: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// refusalsOnly reports whether every failure behind err, an error matching
// scoped.ErrCommitUnknown, is a write refused without being performed: an
// error marked with scoped.NotApplied, or a LOADING reply. Wrappers and the
// scoped.ErrCommitUnknown sentinel itself are looked through.
func refusalsOnly(err error) bool {
	var unknown *scoped.CommitUnknownError
	if errors.As(err, &unknown) {
		return refusalsOnly(unknown.Cause)
	}
	return onlyRefusals(err)
}

func onlyRefusals(err error) bool {
	if err == nil || err == scoped.ErrCommitUnknown {
		return true
	}
	if m, ok := err.(interface{ Is(error) bool }); ok && m.Is(scoped.ErrNotApplied) {
		return true
	}
	if reply, ok := err.(redis.Error); ok {
		return strings.HasPrefix(reply.Error(), "LOADING ")
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if !onlyRefusals(e) {
				return false
			}
		}
		return true
	case interface{ Unwrap() error }:
		return onlyRefusals(u.Unwrap())
	}
	return false
}

// loadingReplies is a go-redis hook that counts the script calls answered
// LOADING: writes (cas.lua) and reads.
type loadingReplies struct{ writes, reads atomic.Int64 }

func (l *loadingReplies) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *loadingReplies) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		l.count(cmd, err)
		return err
	}
}

func (l *loadingReplies) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			l.count(cmd, cmd.Err())
		}
		return err
	}
}

func (l *loadingReplies) count(cmd redis.Cmder, err error) {
	if name := cmd.Name(); (name != "evalsha" && name != "eval") || !isReply(err, "LOADING ") {
		return
	}
	if len(cmd.Args()) > 4 { // cas.lua has arguments, load.lua none
		l.writes.Add(1)
	} else {
		l.reads.Add(1)
	}
}
