package scoped_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
)

// Outcomes are honest: a change that was certainly not written is reported
// as such, and is never written later.

var errLoading = errors.New("LOADING Redis is loading the dataset in memory")

// unavailable makes the first n calls of method fail with an error the
// store marks as not applied; n < 0 fails every call.
func unavailable(s *memstore.Store, method string, n int32) *atomic.Int32 {
	var calls atomic.Int32
	s.Before = func(_ context.Context, m, _ string) error {
		if m == method && (n < 0 || calls.Add(1) <= n) {
			return scoped.NotApplied(errLoading)
		}
		return nil
	}
	return &calls
}

// A write the store did not perform is tried again, with backoff, and the
// call commits once the store answers: never an unknown outcome.
func TestNotAppliedIsRetried(t *testing.T) {
	for _, method := range []string{"Load", "CompareAndSet"} {
		t.Run(method, func(t *testing.T) {
			e, s := newEngine(t, scoped.WithCache(0, 0), scoped.WithBackoff(time.Microsecond, time.Millisecond))
			unavailable(s, method, 5)
			if n, err := scoped.Update(t.Context(), e, "n", increment); err != nil || n != 1 {
				t.Fatalf("Update while the store refused 5 calls = %d, %v; want 1, nil", n, err)
			}
			if st := e.Stats(); st.Unknown != 0 || st.Retries != 5 {
				t.Fatalf("stats %+v; want 5 retries and no unknown outcome", st)
			}
		})
	}
}

// A store that never performs the write gives a definite error, which says
// that the change was not applied, once the attempts run out or the
// context ends.
func TestUnavailableStoreGivesDefiniteError(t *testing.T) {
	e, s := newEngine(t, scoped.WithMaxAttempts(3), scoped.WithBackoff(time.Microsecond, time.Millisecond))
	unavailable(s, "CompareAndSet", -1)
	_, err := scoped.Update(t.Context(), e, "n", increment)
	if !errors.Is(err, scoped.ErrNotApplied) || !errors.Is(err, errLoading) || errors.Is(err, scoped.ErrCommitUnknown) {
		t.Fatalf("Update on a store that refuses every write: %v; want not applied, with the cause", err)
	}

	e, s = newEngine(t, scoped.WithBackoff(time.Millisecond, 10*time.Millisecond))
	unavailable(s, "Load", -1)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = scoped.Update(ctx, e, "n", increment)
	if !errors.Is(err, scoped.ErrNotApplied) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, scoped.ErrCommitUnknown) {
		t.Fatalf("Update whose context ends while the store is down: %v; want its deadline, not applied", err)
	}
	if _, err := scoped.Read[int](ctx, e, "n"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read whose context ended: %v", err)
	}
	if s.Len() != 0 {
		t.Fatal("a write that was never performed is in the store")
	}
}

// A write whose store call ends with the caller's context before it was
// performed (a lock wait, say) reports not applied, and the change never
// lands later. Today's reproduction: the background resolve wrote it 5 s
// after the caller was told its context ended.
func TestNotSentNeverLandsLater(t *testing.T) {
	e, s := newEngine(t)
	s.Before = func(ctx context.Context, m, _ string) error {
		if m == "CompareAndSet" {
			<-ctx.Done() // waiting for a lock
			return scoped.NotApplied(ctx.Err())
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := scoped.Update(ctx, e, "n", increment)
	if !errors.Is(err, scoped.ErrNotApplied) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, scoped.ErrCommitUnknown) {
		t.Fatalf("Update whose lock wait its context cut short: %v; want not applied", err)
	}
	s.Before = nil
	waitFor(t, "the scope to be idle", func() bool { return !scoped.Busy(e, "n") })
	if err := e.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 0 {
		t.Fatal("the change of a call that was told it was not applied landed later")
	}
}

// Close refuses new calls and waits for the batches in flight, or for its
// context.
func TestClose(t *testing.T) {
	e, s := newEngine(t)
	release := blockScope(t, e, "s")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := e.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close while a handler blocks: %v; want its context's error", err)
	}
	if _, err := scoped.Update(t.Context(), e, "n", increment); !errors.Is(err, scoped.ErrClosed) {
		t.Fatalf("Update after Close: %v; want ErrClosed", err)
	}
	if _, err := scoped.Read[int](t.Context(), e, "n"); !errors.Is(err, scoped.ErrClosed) {
		t.Fatalf("Read after Close: %v; want ErrClosed", err)
	}
	release()
	if err := e.Close(t.Context()); err != nil {
		t.Fatalf("Close once the handler returned: %v", err)
	}
	if s.Len() != 0 {
		t.Fatal("a call made after Close reached the store")
	}
}

// An option given an invalid setting makes New panic, naming it.
func TestInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		opt  scoped.Option
		want string
	}{
		{scoped.WithMaxValueSize(-1), "WithMaxValueSize(-1)"},
		{scoped.WithMaxValueSize(0), "WithMaxValueSize(0)"},
		{scoped.WithMaxAttempts(0), "WithMaxAttempts(0)"},
		{scoped.WithBackoff(-time.Second, time.Second), "WithBackoff(-1s, 1s)"},
		{scoped.WithCache(-1, 0), "WithCache(-1, 0)"},
		{scoped.WithMaxBatch(0, 1), "WithMaxBatch(0, 1)"},
	} {
		func() {
			defer func() {
				if p, _ := recover().(string); !strings.Contains(p, tc.want) {
					t.Errorf("New with %s panicked with %q; want a message naming it", tc.want, p)
				}
			}()
			scoped.New(memstore.New(), tc.opt)
		}()
	}
}

// A scope that has no value is told apart from one holding a zero value.
func TestExistence(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	exists := func() bool {
		t.Helper()
		ok, err := scoped.View(ctx, e, "s", func(s *scoped.Scope) (bool, error) { return s.Exists(), nil })
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if _, ok, err := scoped.Lookup[map[string]int](ctx, e, "s"); ok || err != nil || exists() {
		t.Fatalf("a scope never written: Lookup says %v, %v; Exists %v", ok, err, exists())
	}
	if _, err := scoped.Run(ctx, e, "s", func(s *scoped.Scope) (int, error) { return 0, s.Set("n", 0) }); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := scoped.Lookup[map[string]int](ctx, e, "s"); !ok || err != nil || v["n"] != 0 || !exists() {
		t.Fatalf("a scope holding a zero: Lookup = %v, %v, %v; Exists %v", v, ok, err, exists())
	}
	if err := e.Delete(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := scoped.Lookup[map[string]int](ctx, e, "s"); ok || exists() {
		t.Fatal("a deleted scope still exists")
	}
}

// A create whose reply was lost is looked for, not sent again: a second copy
// could create the scope again after another writer deleted it.
func TestLostReplyOfACreate(t *testing.T) {
	t.Run("applied", func(t *testing.T) {
		e, s := newEngine(t)
		failOnce(s, "CompareAndSet", false, errConnReset) // applied, reply lost
		if n, err := scoped.Update(t.Context(), e, "n", increment); err != nil || n != 1 {
			t.Fatalf("create whose reply was lost = %d, %v; want 1, nil (found by its token)", n, err)
		}
	})
	t.Run("deleted meanwhile", func(t *testing.T) {
		e, s := newEngine(t)
		other := scoped.New(s)
		var writes atomic.Int32
		s.After = func(ctx context.Context, m, name string) error {
			if m == "CompareAndSet" && writes.Add(1) == 1 {
				// Applied, then deleted by another engine before the
				// reply could have told this one.
				if err := other.Delete(ctx, name); err != nil {
					t.Error(err)
				}
				return errConnReset
			}
			return nil
		}
		_, err := scoped.Update(t.Context(), e, "n", increment)
		if !errors.Is(err, scoped.ErrCommitUnknown) {
			t.Fatalf("create whose reply was lost and that was deleted since: %v; want an unknown outcome", err)
		}
		if s.Len() != 0 || writes.Load() != 1 {
			t.Fatalf("%d writes, %d records; the create must not be sent again after the delete", writes.Load(), s.Len())
		}
	})
}

// A write the store refuses for what the scope holds (a foreign Redis key,
// say) fails at once, definitely, and is not sent again.
func TestCorruptOnWriteIsDefinite(t *testing.T) {
	e, s := newEngine(t)
	var writes atomic.Int32
	s.Before = func(_ context.Context, m, name string) error {
		if m == "CompareAndSet" {
			writes.Add(1)
			return scoped.NotApplied(&scoped.CorruptValueError{Scope: name, Err: errors.New("WRONGTYPE")})
		}
		return nil
	}
	_, err := scoped.Update(t.Context(), e, "n", increment)
	if !errors.Is(err, scoped.ErrCorruptValue) || errors.Is(err, scoped.ErrCommitUnknown) || writes.Load() != 1 {
		t.Fatalf("Update refused as corrupt: %v after %d writes; want ErrCorruptValue after 1", err, writes.Load())
	}
}
