package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// Calls queued behind a server that does not answer return when their
// contexts end; the pipelines they were in stop waiting, and no goroutine is
// left behind.
func TestPipelinedCallsHonourContexts(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	e := scoped.New(redisstore.New(c, redisstore.WithPipelining(0, 1)))
	baseline := runtime.NumGoroutine()
	if err := srv.Freeze(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			_, errs[i] = scoped.Update(ctx, e, fmt.Sprint("s", i), increment)
		})
	}
	wg.Wait() // the server stays frozen until every call returned
	if err := srv.Thaw(); err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("call %d on a frozen server: %v; want context.DeadlineExceeded", i, err)
		}
	}
	// Thawed, each scope holds the increment or not, and works.
	for i := range errs {
		before, err := scoped.Read[int](t.Context(), e, fmt.Sprint("s", i))
		if err != nil || before > 1 {
			t.Fatalf("scope %d = %d, %v after one abandoned increment", i, before, err)
		}
		if n, err := scoped.Update(t.Context(), e, fmt.Sprint("s", i), increment); err != nil || n != before+1 {
			t.Fatalf("increment after the pause = %d, %v; want %d", n, err, before+1)
		}
	}
	if stacks := awaitEngineGone(5 * time.Second); stacks != nil {
		t.Fatalf("goroutines of the engine or the store left behind:\n%s", stacks)
	}
	if n := awaitGoroutines(baseline, 5*time.Second); n > baseline {
		t.Errorf("%d goroutines after the test, %d before", n, baseline)
	}
}

// A pipeline never holds more calls, or more bytes of keys and arguments,
// than its bounds, except a call larger than the byte bound, which goes
// alone. The server is frozen while the calls queue, so that the queue is
// longer than any bound when it is thawed.
func TestPipelineBounds(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	var pipes pipelineLog
	c.AddHook(&pipes)
	const maxCalls, maxBytes = 5, 400
	s := redisstore.New(c, redisstore.WithPipelining(0, 1), redisstore.WithPipelineBounds(maxCalls, maxBytes))
	// Load the scripts, so that every pipeline below is one of EVALSHA.
	if _, _, err := s.CompareAndSet(t.Context(), "warm-up", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context(), "warm-up"); err != nil {
		t.Fatal(err)
	}
	pipes.reset()

	if err := srv.Freeze(); err != nil {
		t.Fatal(err)
	}
	const calls = 60
	var wg sync.WaitGroup
	for i := range calls + 1 {
		size := 10 + (i%4)*60
		if i == calls {
			size = 2 * maxBytes // alone in its pipeline
		}
		var expiresAt time.Time // every third write expires: its expiry time counts too
		if i%3 == 0 {
			expiresAt = time.Now().Add(time.Hour)
		}
		wg.Go(func() {
			name := fmt.Sprint("s", i)
			if _, ok, err := s.CompareAndSet(t.Context(), name, scoped.Revision{}, scoped.Write{Value: make([]byte, size), Writer: scoped.NewToken(), ExpiresAt: expiresAt}); !ok || err != nil {
				t.Errorf("CompareAndSet of %s = %v, %v", name, ok, err)
			}
			if i%2 == 0 {
				if _, err := s.Load(t.Context(), name); err != nil {
					t.Error(err)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // the calls queue behind the first pipeline
	if err := srv.Thaw(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	sent, full := 0, 0
	for _, p := range pipes.get() {
		sent += p.calls
		if p.calls > maxCalls || p.bytes > maxBytes && p.calls > 1 {
			t.Errorf("a pipeline of %d calls, %d bytes; the bounds are %d calls, %d bytes", p.calls, p.bytes, maxCalls, maxBytes)
		}
		if p.calls == maxCalls || p.bytes+60 > maxBytes {
			full++
		}
	}
	if want := calls + 1 + calls/2 + 1; sent != want { // every CompareAndSet, every other Load
		t.Errorf("%d calls sent in pipelines, want %d", sent, want)
	}
	if full == 0 {
		t.Errorf("no pipeline reached a bound: the test did not queue enough calls")
	}
	t.Logf("%d pipelines, %d of them full", len(pipes.get()), full)
}

// pipelineLog is a go-redis hook that records the pipelines of script
// calls: how many calls each held and their bytes of keys and arguments.
type pipelineLog struct {
	mu    sync.Mutex
	pipes []pipeStat
}

type pipeStat struct{ calls, bytes int }

func (l *pipelineLog) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (l *pipelineLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (l *pipelineLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var p pipeStat
		for _, cmd := range cmds {
			if name := cmd.Name(); name != "evalsha" && name != "eval" {
				continue
			}
			p.calls++
			for _, a := range cmd.Args()[3:] { // after the script, its number of keys
				switch a := a.(type) {
				case string:
					p.bytes += len(a)
				case []byte:
					p.bytes += len(a)
				}
			}
		}
		if p.calls > 0 {
			l.mu.Lock()
			l.pipes = append(l.pipes, p)
			l.mu.Unlock()
		}
		return next(ctx, cmds)
	}
}

func (l *pipelineLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pipes = nil
}

func (l *pipelineLog) get() []pipeStat {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.pipes)
}

// A go-redis hook sees the caller's context: a pipeline runs with the
// values of its first caller's context, not cancelled, and a call sent on
// its own with the caller's context.
func TestHooksSeeCallersContext(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []redisstore.Option
	}{
		{"pipelined", []redisstore.Option{redisstore.WithPipelining(0, 1)}},
		{"direct", []redisstore.Option{redisstore.WithoutPipelining()}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := miniredis.RunT(t)
			c := redis.NewClient(&redis.Options{Addr: m.Addr()})
			t.Cleanup(func() { c.Close() })
			var seen contextLog
			c.AddHook(&seen)
			s := redisstore.New(c, tt.opts...)

			// One caller at a time: every command it causes is seen with its
			// context's value.
			ctx, cancel := context.WithTimeout(context.WithValue(t.Context(), callerKey{}, "alone"), time.Minute)
			defer cancel()
			rec, _, err := s.CompareAndSet(ctx, "a", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Load(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Delete(ctx, "a", rec.Revision()); err != nil {
				t.Fatal(err)
			}
			for _, v := range seen.get() {
				if v.value != "alone" || v.err != nil {
					t.Errorf("a hook saw %+v; want the caller's value \"alone\" and a live context", v)
				}
			}
			if len(seen.get()) < 3 {
				t.Errorf("hooks saw %d script commands, want 3 or more", len(seen.get()))
			}

			// Concurrent callers: a pipeline carries its first caller's
			// values.
			seen.reset()
			var wg sync.WaitGroup
			for i := range 32 {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.WithValue(t.Context(), callerKey{}, fmt.Sprint("caller", i)), time.Minute)
					defer cancel()
					if _, _, err := s.CompareAndSet(ctx, fmt.Sprint("caller", i), scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			for _, v := range seen.get() {
				if want := s.Key(v.value); v.err != nil || v.firstKey != want {
					t.Errorf("a hook saw %+v; want the value of the caller of its first command, and a live context", v)
				}
			}
		})
	}
}

type callerKey struct{}

// contextLog is a go-redis hook that records, for each command or pipeline
// of script calls, the callerKey value of its context and the key of its
// first command.
type contextLog struct {
	mu   sync.Mutex
	seen []seenContext
}

type seenContext struct {
	value, firstKey string
	err             error // the context's Err when the hook ran
}

func (l *contextLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *contextLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.add(ctx, []redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (l *contextLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		l.add(ctx, cmds)
		return next(ctx, cmds)
	}
}

func (l *contextLog) add(ctx context.Context, cmds []redis.Cmder) {
	if len(cmds) == 0 || (cmds[0].Name() != "evalsha" && cmds[0].Name() != "eval") {
		return
	}
	v, _ := ctx.Value(callerKey{}).(string)
	key, _ := cmds[0].Args()[3].(string)
	l.mu.Lock()
	l.seen = append(l.seen, seenContext{value: v, firstKey: key, err: ctx.Err()})
	l.mu.Unlock()
}

func (l *contextLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = nil
}

func (l *contextLog) get() []seenContext {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}
