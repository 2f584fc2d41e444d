package scoped_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
)

// Each caller is isolated from the other callers' handlers.

// blockScope starts a call on scope name whose handler blocks until the
// returned function is called, and waits until the handler runs.
func blockScope(t *testing.T, e *scoped.Engine, name string) (release func()) {
	t.Helper()
	running, unblock := make(chan struct{}), make(chan struct{})
	go scoped.Update(context.Background(), e, name, func(n *int) (int, error) {
		close(running)
		<-unblock
		return 0, nil
	})
	<-running
	var once sync.Once
	release = func() { once.Do(func() { close(unblock) }) }
	t.Cleanup(release)
	return release
}

// A call queued behind a handler that blocks, and ahead of another one that
// blocks, returns at its own deadline, with an error that says its change
// was not applied. Today's reproduction: X returned only when Z's handler
// was released.
func TestDeadlineWhateverOtherHandlersDo(t *testing.T) {
	for _, kind := range []string{"write", "read-only"} {
		t.Run(kind, func(t *testing.T) {
			e, s := newEngine(t)
			var wg sync.WaitGroup
			releaseA := blockScope(t, e, "s")

			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			xErr := make(chan error, 1)
			start(t, e, &wg, func() {
				_, err := scoped.Run(ctx, e, "s", func(s *scoped.Scope) (int, error) {
					if kind == "write" {
						return 0, s.Set("x", 1)
					}
					return scoped.Get[int](s, "x")
				})
				xErr <- err
			})
			zRunning, zRelease := make(chan struct{}), make(chan struct{})
			defer close(zRelease)
			var zRuns sync.Once // Z runs again once X has left its batch
			start(t, e, &wg, func() {
				scoped.Run(context.Background(), e, "s", func(*scoped.Scope) (int, error) {
					zRuns.Do(func() { close(zRunning) })
					<-zRelease
					return 0, nil
				})
			})
			releaseA() // the next batch takes X and Z, and Z's handler blocks
			<-zRunning

			select {
			case err := <-xErr:
				if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, scoped.ErrNotApplied) || errors.Is(err, scoped.ErrCommitUnknown) {
					t.Fatalf("X: %v; want its deadline, and that its change was not applied", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("X did not return at its deadline while another caller's handler blocked")
			}
			if rec, _ := s.Load(t.Context(), "s"); rec.Exists() {
				t.Fatalf("the store holds %q; X's change must never be applied", rec.Value)
			}
		})
	}
}

// A handler's runtime.Goexit ends its own caller only. Today's reproduction:
// A led, its write conflicted, it gathered B, B's handler called Goexit, and
// A's call never returned.
func TestGoexitEndsOnlyItsCaller(t *testing.T) {
	s := memstore.New()
	e := scoped.New(s)
	ctx := t.Context()
	scoped.Update(ctx, e, "n", increment) // cached at version 1

	// A's first write conflicts with a rival, once B has queued.
	rivalWhenQueued(t, e, s, 3)
	aDone := make(chan error, 1)
	go func() {
		_, err := scoped.Update(context.Background(), e, "n", increment)
		aDone <- err
	}()
	waitFor(t, "A to arrive", func() bool { return e.Stats().Calls == 2 })
	bReturned, bExited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(bExited)
		scoped.Update(context.Background(), e, "n", func(n *int) (int, error) {
			*n = 1000
			runtime.Goexit()
			return 0, nil
		})
		close(bReturned)
	}()
	select {
	case err := <-aDone:
		if err != nil {
			t.Fatalf("A: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("A never returned after B's handler called runtime.Goexit")
	}
	<-bExited
	select {
	case <-bReturned:
		t.Fatal("B's Update returned; its caller's goroutine should have exited")
	default:
	}
	if n, _ := scoped.Read[int](ctx, e, "n"); n != 6 {
		t.Fatalf("n = %d, want 6 (the rival's 5 and A's increment, nothing of B)", n)
	}
}

// A panic reaches its caller with the handler's stack, also when another
// goroutine ran the handler.
func TestPanicCarriesHandlerStack(t *testing.T) {
	e, _ := newEngine(t)
	var p *scoped.PanicError
	func() {
		defer func() { p, _ = recover().(*scoped.PanicError) }()
		scoped.Run(t.Context(), e, "s", panickingHandler)
	}()
	if p == nil || p.Value != "boom" {
		t.Fatalf("recovered %v; want a *PanicError of the handler's value", p)
	}
	if !bytes.Contains(p.Stack, []byte("panickingHandler")) {
		t.Fatalf("the panic's stack does not show the handler:\n%s", p.Stack)
	}
}

func panickingHandler(*scoped.Scope) (int, error) { panic("boom") }

// A batch holds at most WithMaxBatch calls, and a conflict re-runs that
// batch alone, not the calls that queued meanwhile.
func TestBatchIsBounded(t *testing.T) {
	s := memstore.New()
	e := scoped.New(s, scoped.WithMaxBatch(4, 1<<20))
	var runs, writes, mostRuns atomic.Int32
	release := make(chan struct{})
	var rival atomic.Bool
	s.Before = func(ctx context.Context, m, name string) error {
		if m != "CompareAndSet" || rival.Load() {
			return nil
		}
		if r := runs.Swap(0); r > mostRuns.Load() {
			mostRuns.Store(r)
		}
		switch writes.Add(1) {
		case 1:
			<-release
		case 2: // another writer commits 100 first
			rival.Store(true)
			cur, _ := s.Load(ctx, name)
			s.CompareAndSet(ctx, name, cur.Revision(), scoped.Write{Value: []byte{100}, Writer: scoped.NewToken()})
			rival.Store(false)
		}
		return nil
	}
	counted := func(n *int) (int, error) { runs.Add(1); *n++; return *n, nil }
	var wg sync.WaitGroup
	start(t, e, &wg, func() { scoped.Update(context.Background(), e, "n", counted) })
	waitFor(t, "the first write", func() bool { return writes.Load() == 1 })
	for range 10 {
		start(t, e, &wg, func() { scoped.Update(context.Background(), e, "n", counted) })
	}
	close(release)
	wg.Wait()
	if n, _ := scoped.Read[int](t.Context(), e, "n"); n != 110 {
		t.Fatalf("n = %d, want 110 (the rival's 100, then 10 increments)", n)
	}
	if m := mostRuns.Load(); m != 4 {
		t.Fatalf("the most handlers run for one write: %d; want 4, the batch bound", m)
	}
	if w := writes.Load(); w != 5 {
		t.Fatalf("%d writes; want 5 (the first, a batch of 4 twice for the conflict, then 4 and 2)", w)
	}
}

// limitedStore refuses values over limit bytes, as a server with a packet
// limit does.
type limitedStore struct {
	*memstore.Store
	limit int
}

func (l limitedStore) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	if len(next.Value) > l.limit {
		return scoped.Record{}, false, &scoped.ValueTooLargeError{Scope: name, Size: len(next.Value), Limit: l.limit}
	}
	return l.Store.CompareAndSet(ctx, name, expected, next)
}

// One call whose change makes the value too large fails alone, whether the
// engine's limit or the store's refuses it; the rest of its batch commits.
func TestTooLargeFailsAlone(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []scoped.Option
		wrap func(*memstore.Store) scoped.Store
	}{
		{"engine limit", []scoped.Option{scoped.WithMaxValueSize(64)}, func(s *memstore.Store) scoped.Store { return s }},
		{"store limit", nil, func(s *memstore.Store) scoped.Store { return limitedStore{s, 64} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := memstore.New()
			e := scoped.New(tc.wrap(s), tc.opts...)
			g := holdWrites(s)
			var wg sync.WaitGroup
			set := func(field string, size int) func(*scoped.Scope) (int, error) {
				return func(sc *scoped.Scope) (int, error) { return 0, sc.Set(field, make([]byte, size)) }
			}
			start(t, e, &wg, func() { scoped.Run(context.Background(), e, "s", set("a", 1)) })
			waitFor(t, "the first write", func() bool { return g.writes.Load() == 1 })
			var errs [3]error
			for i, size := range []int{2, 100, 3} {
				start(t, e, &wg, func() { _, errs[i] = scoped.Run(context.Background(), e, "s", set(string(rune('b'+i)), size)) })
			}
			close(g.release)
			wg.Wait()
			var tooLarge *scoped.ValueTooLargeError
			if errs[0] != nil || errs[2] != nil || !errors.As(errs[1], &tooLarge) || tooLarge.Limit != 64 {
				t.Fatalf("errors %v; want only the second call to fail, over the limit of 64", errs)
			}
			keys, err := scoped.View(t.Context(), e, "s", func(s *scoped.Scope) ([]string, error) { return s.Keys(), nil })
			if err != nil || len(keys) != 3 || keys[0] != "a" || keys[1] != "b" || keys[2] != "d" {
				t.Fatalf("fields %v, %v; want a, b, d", keys, err)
			}
		})
	}
}

// On a warm engine, a handler that only reads, or that fails, runs once:
// the engine checks that the record it ran on is current, and runs it again
// only if it is not.
func TestReadOnlyHandlersRunOnce(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	scoped.Update(ctx, e, "n", increment) // warm: cached
	errNo := errors.New("no")
	for _, tc := range []struct {
		name string
		fn   func(n *int) (int, error)
	}{
		{"reads", func(n *int) (int, error) { return *n, nil }},
		{"fails", func(n *int) (int, error) { *n = 9; return 0, errNo }},
	} {
		runs := 0
		_, err := scoped.Update(ctx, e, "n", func(n *int) (int, error) { runs++; return tc.fn(n) })
		if err != nil && err != errNo {
			t.Fatal(err)
		}
		if runs != 1 {
			t.Errorf("a handler that %s ran %d times, want 1", tc.name, runs)
		}
	}
}
