package scoped_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
)

func newEngine(t *testing.T, opts ...scoped.Option) (*scoped.Engine, *memstore.Store) {
	t.Helper()
	s := memstore.New()
	return scoped.New(s, opts...), s
}

func increment(n *int) (int, error) {
	*n++
	return *n, nil
}

func TestRunFields(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	for want := 1; want <= 3; want++ {
		got, err := scoped.Run(ctx, e, "counter", func(s *scoped.Scope) (int, error) {
			calls, err := scoped.Get[int](s, "calls")
			if err != nil {
				return 0, err
			}
			calls++
			return calls, s.Set("calls", calls)
		})
		if err != nil || got != want {
			t.Fatalf("call %d = %d, %v", want, got, err)
		}
	}
	keys, err := scoped.Run(ctx, e, "counter", func(s *scoped.Scope) ([]string, error) {
		if err := s.Set("name", "web"); err != nil {
			return nil, err
		}
		if err := s.Set("tags", map[string]int{"b": 2, "a": 1}); err != nil {
			return nil, err
		}
		if !s.Has("calls") || s.Has("missing") {
			t.Error("Has is wrong")
		}
		return s.Keys(), nil
	})
	if err != nil || strings.Join(keys, ",") != "calls,name,tags" {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
	tags, err := scoped.View(ctx, e, "counter", func(s *scoped.Scope) (map[string]int, error) {
		return scoped.Get[map[string]int](s, "tags")
	})
	if err != nil || tags["a"] != 1 || tags["b"] != 2 || len(tags) != 2 {
		t.Fatalf("tags = %v, %v", tags, err)
	}
	n, err := scoped.Run(ctx, e, "counter", func(s *scoped.Scope) (int, error) {
		return s.Len(), s.Delete("tags")
	})
	if err != nil || n != 3 {
		t.Fatalf("Len = %d, %v", n, err)
	}
	has, _ := scoped.View(ctx, e, "counter", func(s *scoped.Scope) (bool, error) { return s.Has("tags"), nil })
	if has {
		t.Fatal("deleted field is still set")
	}
}

func TestGetWrongType(t *testing.T) {
	e, _ := newEngine(t)
	_, err := scoped.Run(t.Context(), e, "s", func(s *scoped.Scope) (int, error) {
		if err := s.Set("name", "text"); err != nil {
			return 0, err
		}
		return scoped.Get[int](s, "name")
	})
	if !errors.Is(err, scoped.ErrCorruptValue) || !strings.Contains(err.Error(), `"name"`) {
		t.Fatalf("Get[int] of a string field: %v", err)
	}
}

type account struct {
	Owner   string
	Balance int64
	History []int64
}

func TestUpdateTyped(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	zero, err := scoped.Read[account](ctx, e, "acct")
	if err != nil || zero.Owner != "" || zero.Balance != 0 {
		t.Fatalf("never written scope reads %+v, %v; want the zero value", zero, err)
	}
	for _, amount := range []int64{10, -3, 5} {
		if _, err := scoped.Update(ctx, e, "acct", func(a *account) (int64, error) {
			a.Owner = "ada"
			a.Balance += amount
			a.History = append(a.History, amount)
			return a.Balance, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := scoped.Read[account](ctx, e, "acct")
	if err != nil || got.Balance != 12 || len(got.History) != 3 || got.Owner != "ada" {
		t.Fatalf("Read = %+v, %v", got, err)
	}
}

func TestUnchangedWritesNothing(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	m := map[string]int{}
	for i := range 50 {
		m[strings.Repeat("k", i+1)] = i
	}
	if _, err := scoped.Update(ctx, e, "map", func(v *map[string]int) (struct{}, error) {
		*v = m
		return struct{}{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := scoped.Run(ctx, e, "fields", func(s *scoped.Scope) (struct{}, error) {
		return struct{}{}, s.Set("m", m)
	}); err != nil {
		t.Fatal(err)
	}
	before := e.Stats().Writes
	for range 20 {
		// Maps encode in random order; canonical encoding makes these no-ops.
		if _, err := scoped.Update(ctx, e, "map", func(v *map[string]int) (int, error) { return len(*v), nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := scoped.Run(ctx, e, "fields", func(s *scoped.Scope) (struct{}, error) {
			return struct{}{}, s.Set("m", m) // the same value again
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := scoped.Update(ctx, e, "never-written", func(v *account) (struct{}, error) { return struct{}{}, nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := scoped.Run(ctx, e, "never-written-fields", func(s *scoped.Scope) (struct{}, error) {
			if err := s.Set("x", 1); err != nil {
				return struct{}{}, err
			}
			return struct{}{}, s.Delete("x")
		}); err != nil {
			t.Fatal(err)
		}
	}
	if w := e.Stats().Writes - before; w != 0 {
		t.Fatalf("handlers that changed nothing made %d writes", w)
	}
}

func TestHandlerErrorWritesNothing(t *testing.T) {
	e, s := newEngine(t)
	ctx := t.Context()
	errInsufficient := errors.New("insufficient funds")
	_, err := scoped.Update(ctx, e, "acct", func(a *account) (int64, error) {
		a.Balance -= 100
		return 0, errInsufficient
	})
	if err != errInsufficient {
		t.Fatalf("Update returned %v; want the handler's error as it is", err)
	}
	_, err = scoped.Run(ctx, e, "fields", func(s *scoped.Scope) (int, error) {
		s.Set("half", "done")
		return 0, errInsufficient
	})
	if !errors.Is(err, errInsufficient) {
		t.Fatalf("Run returned %v", err)
	}
	for _, name := range []string{"acct", "fields"} {
		if rec, _ := s.Load(ctx, name); rec.Version != 0 {
			t.Fatalf("failed handler wrote %s: %+v", name, rec)
		}
	}
}

func TestHandlerPanic(t *testing.T) {
	e, s := newEngine(t)
	ctx := t.Context()
	func() {
		defer func() {
			p, ok := recover().(*scoped.PanicError)
			if !ok || p.Value != "boom" {
				t.Fatalf("recovered %v; want a PanicError with the handler's panic value", p)
			}
		}()
		scoped.Update(ctx, e, "n", func(n *int) (int, error) {
			*n = 42
			panic("boom")
		})
		t.Fatal("Update returned after its handler panicked")
	}()
	if rec, _ := s.Load(ctx, "n"); rec.Version != 0 {
		t.Fatalf("panicking handler wrote: %+v", rec)
	}
	// The scope is not wedged.
	if n, err := scoped.Update(ctx, e, "n", increment); err != nil || n != 1 {
		t.Fatalf("Update after a panic = %d, %v", n, err)
	}
}

func TestInvalidNames(t *testing.T) {
	e, s := newEngine(t)
	calls := 0
	s.Before = func(context.Context, string, string) error { calls++; return nil }
	for _, name := range []string{"", "nul\x00byte", "\xff\xfe", strings.Repeat("x", scoped.MaxNameLength+1)} {
		_, err := scoped.Update(t.Context(), e, name, increment)
		var nameErr *scoped.NameError
		if !errors.Is(err, scoped.ErrInvalidName) || !errors.As(err, &nameErr) || nameErr.Name != name {
			t.Errorf("Update(%q): %v; want a NameError", name, err)
		}
		if _, err := scoped.Read[int](t.Context(), e, name); !errors.Is(err, scoped.ErrInvalidName) {
			t.Errorf("Read(%q): %v", name, err)
		}
		if err := e.Delete(t.Context(), name); !errors.Is(err, scoped.ErrInvalidName) {
			t.Errorf("Delete(%q): %v", name, err)
		}
	}
	if calls != 0 {
		t.Fatalf("invalid names reached the store %d times", calls)
	}
}

func TestValueTooLarge(t *testing.T) {
	e, s := newEngine(t, scoped.WithMaxValueSize(64))
	ctx := t.Context()
	if _, err := scoped.Update(ctx, e, "v", func(b *[]byte) (int, error) { *b = make([]byte, 10); return 0, nil }); err != nil {
		t.Fatal(err)
	}
	_, err := scoped.Update(ctx, e, "v", func(b *[]byte) (int, error) { *b = make([]byte, 100); return 0, nil })
	var tooLarge *scoped.ValueTooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Limit != 64 || tooLarge.Scope != "v" {
		t.Fatalf("oversize Update: %v", err)
	}
	if rec, _ := s.Load(ctx, "v"); rec.Version != 1 || len(rec.Value) != 12 {
		t.Fatalf("oversize Update changed the store: %+v", rec)
	}
}

func TestDelete(t *testing.T) {
	e, s := newEngine(t)
	ctx := t.Context()
	if err := e.Delete(ctx, "absent"); err != nil {
		t.Fatal(err)
	}
	if w := e.Stats().Writes; w != 0 {
		t.Fatalf("deleting an absent scope wrote %d times", w)
	}
	scoped.Update(ctx, e, "n", increment)
	scoped.Update(ctx, e, "n", increment)
	if err := e.Delete(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 0 {
		t.Fatalf("after Delete the store holds %d records; want none", s.Len())
	}
	if n, ok, err := scoped.Lookup[int](ctx, e, "n"); err != nil || n != 0 || ok {
		t.Fatalf("Lookup after Delete = %d, %v, %v; want 0, false, nil", n, ok, err)
	}
	if n, err := scoped.Update(ctx, e, "n", increment); err != nil || n != 1 {
		t.Fatalf("Update after Delete = %d, %v", n, err)
	}
	if rec, _ := s.Load(ctx, "n"); rec.Version != 1 {
		t.Fatalf("re-created scope at version %d, want 1", rec.Version)
	}
}

func TestViewIsReadOnly(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	scoped.Run(ctx, e, "s", func(s *scoped.Scope) (int, error) { return 0, s.Set("a", 1) })
	writes := e.Stats().Writes
	_, err := scoped.View(ctx, e, "s", func(s *scoped.Scope) (int, error) {
		if err := s.Set("a", 2); !errors.Is(err, scoped.ErrReadOnly) {
			t.Errorf("Set in View: %v", err)
		}
		if err := s.Delete("a"); !errors.Is(err, scoped.ErrReadOnly) {
			t.Errorf("Delete in View: %v", err)
		}
		return scoped.Get[int](s, "a")
	})
	if err != nil || e.Stats().Writes != writes {
		t.Fatalf("View: %v, writes %d → %d", err, writes, e.Stats().Writes)
	}
}

// A cached record must not serve a read that started after another writer
// committed: reads never go back in time.
func TestReadsNeverGoBack(t *testing.T) {
	s := memstore.New()
	a, b := scoped.New(s), scoped.New(s)
	ctx := t.Context()
	if _, err := scoped.Update(ctx, a, "n", increment); err != nil { // a caches version 1
		t.Fatal(err)
	}
	for want := 2; want <= 5; want++ {
		if _, err := scoped.Update(ctx, b, "n", increment); err != nil {
			t.Fatal(err)
		}
		got, err := scoped.Update(ctx, a, "n", func(n *int) (int, error) { return *n, nil })
		if err != nil || got != want {
			t.Fatalf("read through a stale cache = %d, %v; want %d", got, err, want)
		}
	}
}

// Two engines on one store conflict; each re-runs its handler on the fresh
// value and no increment is lost.
func TestConflictReruns(t *testing.T) {
	s := memstore.New()
	a, b := scoped.New(s), scoped.New(s)
	ctx := t.Context()
	scoped.Update(ctx, a, "n", increment) // a caches version 1
	scoped.Update(ctx, b, "n", increment) // b writes version 2: a's cache is stale
	runs := 0
	got, err := scoped.Update(ctx, a, "n", func(n *int) (int, error) {
		runs++
		*n++
		return *n, nil
	})
	if err != nil || got != 3 || runs != 2 {
		t.Fatalf("Update over a stale cache = %d, %v after %d runs; want 3 after 2 runs", got, err, runs)
	}
	if st := a.Stats(); st.Conflicts != 1 || st.Retries != 1 {
		t.Fatalf("stats %+v; want 1 conflict, 1 retry", st)
	}
}

func TestManyGoroutinesExactTotal(t *testing.T) {
	e, _ := newEngine(t)
	const workers, increments = 32, 100
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range increments {
				if _, err := scoped.Update(context.Background(), e, "n", increment); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n, _ := scoped.Read[int](t.Context(), e, "n"); n != workers*increments {
		t.Fatalf("n = %d, want %d", n, workers*increments)
	}
}

// The cache saves the load before a write; its bounds are kept.
func TestCacheBounds(t *testing.T) {
	ctx := t.Context()
	setBytes := func(e *scoped.Engine, name string, n int) {
		t.Helper()
		if _, err := scoped.Update(ctx, e, name, func(b *[]byte) (int, error) {
			last := byte(0)
			if len(*b) > 0 {
				last = (*b)[len(*b)-1]
			}
			*b = append(make([]byte, n), last+1) // a change every time
			return 0, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	loadsFor := func(e *scoped.Engine, name string, size int) uint64 {
		before := e.Stats().Loads
		for range 5 {
			// The record of a scope in use is kept regardless of the
			// bounds: wait until the scope is idle.
			waitFor(t, "the scope to be idle", func() bool { return !scoped.Busy(e, name) })
			setBytes(e, name, size)
		}
		return e.Stats().Loads - before
	}

	cached, _ := newEngine(t)
	setBytes(cached, "s", 10)
	if n := loadsFor(cached, "s", 10); n != 0 {
		t.Errorf("with the default cache, 5 writes made %d loads; want 0", n)
	}
	uncached, _ := newEngine(t, scoped.WithCache(0, 0))
	if n := loadsFor(uncached, "s", 10); n != 5 {
		t.Errorf("without a cache, 5 writes made %d loads; want 5", n)
	}
	small, _ := newEngine(t, scoped.WithCache(4096, 32*1024)) // 1 KiB a shard
	setBytes(small, "big", 2000)
	setBytes(small, "little", 10)
	if n := loadsFor(small, "big", 2000); n != 5 {
		t.Errorf("a value over the byte bound: 5 writes made %d loads; want 5", n)
	}
	if n := loadsFor(small, "little", 10); n != 0 {
		t.Errorf("a value within the byte bound: 5 writes made %d loads; want 0", n)
	}
}
