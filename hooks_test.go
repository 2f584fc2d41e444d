package scoped_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
)

type ctxKey struct{}

// startKey marks the context CallStart returned.
type startKey struct{}

// recorder keeps what the hooks saw.
type recorder struct {
	mu     sync.Mutex
	calls  []scoped.CallInfo
	stores []scoped.StoreCallInfo
	ctxOK  bool // every hook saw the caller's context value
}

func newRecorder() *recorder { return &recorder{ctxOK: true} }

func (r *recorder) hooks() scoped.Hooks {
	return scoped.Hooks{
		CallStart: func(ctx context.Context, scope string, kind scoped.CallKind) context.Context {
			return context.WithValue(ctx, startKey{}, scope+" "+kind.String())
		},
		CallDone: func(ctx context.Context, c scoped.CallInfo) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.calls = append(r.calls, c)
			r.ctxOK = r.ctxOK && ctx.Value(ctxKey{}) == "caller" && ctx.Value(startKey{}) == c.Scope+" "+c.Kind.String()
		},
		StoreDone: func(ctx context.Context, s scoped.StoreCallInfo) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.stores = append(r.stores, s)
			r.ctxOK = r.ctxOK && ctx.Value(ctxKey{}) == "caller" && ctx.Value(startKey{}) != nil
		},
	}
}

// last returns the last call seen, and the store calls seen since the
// previous last, and forgets them.
func (r *recorder) last(t *testing.T) (scoped.CallInfo, []scoped.StoreCallInfo) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) != 1 {
		t.Fatalf("the hook saw %d calls, want 1", len(r.calls))
	}
	c, s := r.calls[0], r.stores
	r.calls, r.stores = nil, nil
	return c, s
}

// The hooks see every call and every store call, with the caller's context.
func TestHooks(t *testing.T) {
	r := newRecorder()
	s := memstore.New()
	e := scoped.New(s, scoped.WithHooks(r.hooks()), scoped.WithMaxAttempts(2), scoped.WithBackoff(0, 0))
	ctx := context.WithValue(t.Context(), ctxKey{}, "caller")
	errNo := errors.New("no")

	type want struct {
		kind    scoped.CallKind
		outcome scoped.Outcome
		stores  []scoped.StoreCall
	}
	for _, tc := range []struct {
		name string
		call func() error
		want want
	}{
		{"first write", func() error { _, err := scoped.Update(ctx, e, "n", increment); return err },
			want{scoped.KindUpdate, scoped.OutcomeWritten, []scoped.StoreCall{scoped.StoreLoad, scoped.StoreCompareAndSet}}},
		{"cached write", func() error { _, err := scoped.Update(ctx, e, "n", increment); return err },
			want{scoped.KindUpdate, scoped.OutcomeWritten, []scoped.StoreCall{scoped.StoreCompareAndSet}}},
		{"no change", func() error {
			_, err := scoped.Run(ctx, e, "n2", func(s *scoped.Scope) (int, error) { return 0, nil })
			return err
		}, want{scoped.KindRun, scoped.OutcomeUnchanged, []scoped.StoreCall{scoped.StoreLoad}}},
		{"handler error", func() error {
			_, err := scoped.Update(ctx, e, "n", func(*int) (int, error) { return 0, errNo })
			return err
		}, want{scoped.KindUpdate, scoped.OutcomeFailed, []scoped.StoreCall{scoped.StoreLoad}}},
		{"view", func() error {
			_, err := scoped.View(ctx, e, "n2", func(*scoped.Scope) (int, error) { return 0, nil })
			return err
		}, want{scoped.KindView, scoped.OutcomeUnchanged, []scoped.StoreCall{scoped.StoreLoad}}},
		{"view of a value that is not fields", func() error {
			_, err := scoped.View(ctx, e, "n", func(*scoped.Scope) (int, error) { return 0, nil })
			return err
		}, want{scoped.KindView, scoped.OutcomeFailed, []scoped.StoreCall{scoped.StoreLoad}}},
		{"read", func() error { _, err := scoped.Read[int](ctx, e, "n"); return err },
			want{scoped.KindRead, scoped.OutcomeUnchanged, []scoped.StoreCall{scoped.StoreLoad}}},
		{"delete", func() error { return e.Delete(ctx, "n") },
			want{scoped.KindDelete, scoped.OutcomeWritten, []scoped.StoreCall{scoped.StoreDelete}}},
	} {
		err := tc.call()
		c, stores := r.last(t)
		wantWrites := 0
		if tc.want.outcome == scoped.OutcomeWritten {
			wantWrites = 1
		}
		if c.Kind != tc.want.kind || c.Outcome != tc.want.outcome || c.Scope == "" || c.Attempts != wantWrites || !errors.Is(c.Err, err) {
			t.Errorf("%s: the hook saw %+v (call error %v); want kind %s, outcome %s, %d attempts", tc.name, c, err, tc.want.kind, tc.want.outcome, wantWrites)
		}
		var calls []scoped.StoreCall
		for _, s := range stores {
			calls = append(calls, s.Call)
			if s.Outcome != scoped.StoreOK || s.Duration <= 0 {
				t.Errorf("%s: store call %+v; want ok, timed", tc.name, s)
			}
		}
		if len(calls) != len(tc.want.stores) || (len(calls) > 0 && calls[len(calls)-1] != tc.want.stores[len(tc.want.stores)-1]) {
			t.Errorf("%s: store calls %v; want %v", tc.name, calls, tc.want.stores)
		}
	}
	if !r.ctxOK {
		t.Error("a hook did not see the caller's context, as CallStart returned it")
	}

	// Conflicts on every attempt.
	e = scoped.New(rivalStore{memstore.New()}, scoped.WithHooks(r.hooks()), scoped.WithMaxAttempts(3), scoped.WithBackoff(0, 0))
	scoped.Update(ctx, e, "n", increment)
	c, stores := r.last(t)
	if c.Outcome != scoped.OutcomeFailed || c.Attempts != 3 || c.Conflicts != 3 || !errors.Is(c.Err, scoped.ErrTooManyConflicts) {
		t.Errorf("a call that lost every attempt: %+v; want failed, 3 attempts, 3 conflicts", c)
	}
	if n := countOutcome(stores, scoped.StoreConflict); n != 3 {
		t.Errorf("%d store calls seen as conflicts, want 3", n)
	}

	// Not applied, and unknown.
	e, s = newEngine(t, scoped.WithHooks(r.hooks()), scoped.WithMaxAttempts(2), scoped.WithBackoff(0, 0))
	unavailable(s, "CompareAndSet", -1)
	scoped.Update(ctx, e, "n", increment)
	if c, stores := r.last(t); c.Outcome != scoped.OutcomeNotApplied || countOutcome(stores, scoped.StoreNotApplied) != 2 {
		t.Errorf("a call the store refused twice: %+v, store calls %+v", c, stores)
	}
	s.Before = nil
	scoped.Update(ctx, e, "n", increment)
	r.last(t)
	s.Before = func(context.Context, string, string) error { return errConnReset }
	scoped.Update(ctx, e, "n", increment)
	if c, stores := r.last(t); c.Outcome != scoped.OutcomeUnknown || countOutcome(stores, scoped.StoreError) == 0 {
		t.Errorf("a call whose write failed for good: %+v, store calls %+v", c, stores)
	}
	if !r.ctxOK {
		t.Error("a hook did not see the caller's context")
	}
}

func countOutcome(stores []scoped.StoreCallInfo, o scoped.StoreOutcome) (n int) {
	for _, s := range stores {
		if s.Outcome == o {
			n++
		}
	}
	return n
}

// The hook tells how many calls a call was committed with.
func TestHookBatchSize(t *testing.T) {
	r := newRecorder()
	s := memstore.New()
	e := scoped.New(s, scoped.WithHooks(r.hooks()))
	g := holdWrites(s)
	var wg sync.WaitGroup
	ctx := context.WithValue(context.Background(), ctxKey{}, "caller")
	start(t, e, &wg, func() { scoped.Update(ctx, e, "n", increment) })
	waitFor(t, "the first write", func() bool { return g.writes.Load() == 1 })
	for range 5 {
		start(t, e, &wg, func() { scoped.Update(ctx, e, "n", increment) })
	}
	close(g.release)
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	batches := map[int]int{}
	for _, c := range r.calls {
		batches[c.Batch]++
	}
	if batches[1] != 1 || batches[5] != 5 {
		t.Fatalf("batch sizes seen %v; want one call alone, then 5 together", batches)
	}
}

// BenchmarkHooks compares an Update with no hook set, the engine's normal
// path, with one whose every hook is set.
func BenchmarkHooks(b *testing.B) {
	noop := scoped.Hooks{
		CallDone:  func(context.Context, scoped.CallInfo) {},
		StoreDone: func(context.Context, scoped.StoreCallInfo) {},
	}
	for _, bc := range []struct {
		name string
		opts []scoped.Option
	}{{"none", nil}, {"set", []scoped.Option{scoped.WithHooks(noop)}}} {
		b.Run(bc.name, func(b *testing.B) {
			e := scoped.New(memstore.New(), bc.opts...)
			ctx := context.Background()
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if _, err := scoped.Update(ctx, e, "n", increment); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}
