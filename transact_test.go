package scoped_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
)

// move transfers amount from one integer scope to another in a Transact.
func move(ctx context.Context, e *scoped.Engine, from, to string, amount int) error {
	_, err := scoped.Transact(ctx, e, []string{from, to}, func(tx *scoped.Tx) (struct{}, error) {
		src, err := scoped.TxValue[int](tx, from)
		if err != nil {
			return struct{}{}, err
		}
		dst, err := scoped.TxValue[int](tx, to)
		if err != nil {
			return struct{}{}, err
		}
		*src -= amount
		*dst += amount
		return struct{}{}, nil
	})
	return err
}

func readInt(t *testing.T, e *scoped.Engine, name string) int {
	t.Helper()
	n, err := scoped.Read[int](t.Context(), e, name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A handler's error writes nothing of any scope.
func TestTransactAllOrNothing(t *testing.T) {
	e, s := newEngine(t)
	refused := errors.New("refused")
	_, err := scoped.Transact(t.Context(), e, []string{"a", "b"}, func(tx *scoped.Tx) (int, error) {
		a, err := scoped.TxValue[int](tx, "a")
		if err != nil {
			return 0, err
		}
		*a = 5
		return 0, refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("Transact = %v, want the handler's error", err)
	}
	if s.Len() != 0 || e.Stats().Writes != 0 {
		t.Fatalf("a failed Transact left %d records after %d writes", s.Len(), e.Stats().Writes)
	}
}

// Transacts over overlapping scopes named in every order, and calls on one
// scope among them, neither deadlock nor lose a unit.
func TestTransactNoDeadlock(t *testing.T) {
	e, _ := newEngine(t)
	names := []string{"d", "b", "a", "c"}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var singles atomic.Int64
	for w := range 32 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for range 50 {
				perm := rng.Perm(len(names))
				if w%4 == 0 {
					if _, err := scoped.Update(ctx, e, names[perm[0]], increment); err != nil {
						t.Errorf("Update: %v", err)
						return
					}
					singles.Add(1)
					continue
				}
				if err := move(ctx, e, names[perm[0]], names[perm[1]], 1+rng.IntN(5)); err != nil {
					t.Errorf("Transact: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	sum := 0
	for _, name := range names {
		sum += readInt(t, e, name)
	}
	if sum != int(singles.Load()) {
		t.Fatalf("the scopes sum to %d; the %d increments alone should make that sum", sum, singles.Load())
	}
}

// Transacts that share no scope run at the same time.
func TestTransactDisjointInParallel(t *testing.T) {
	e, _ := newEngine(t)
	both := make(chan struct{})
	var arrived atomic.Int32
	run := func(names []string) error {
		_, err := scoped.Transact(t.Context(), e, names, func(tx *scoped.Tx) (struct{}, error) {
			if arrived.Add(1) == 2 {
				close(both)
			}
			select {
			case <-both:
				return struct{}{}, nil
			case <-time.After(10 * time.Second):
				return struct{}{}, errors.New("the other Transact never ran beside this one")
			}
		})
		return err
	}
	var wg sync.WaitGroup
	var errA, errB error
	wg.Go(func() { errA = run([]string{"a", "b"}) })
	wg.Go(func() { errB = run([]string{"c", "d"}) })
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
}

// A Transact waits for the call in flight on one of its scopes, and sees
// its change.
func TestTransactWaitsForCallsAhead(t *testing.T) {
	e, s := newEngine(t)
	g := holdWrites(s)
	var wg sync.WaitGroup
	start(t, e, &wg, func() { scoped.Update(context.Background(), e, "a", increment) })
	waitFor(t, "the write in flight", func() bool { return g.writes.Load() == 1 })
	seen := make(chan int, 1)
	wg.Go(func() {
		scoped.Transact(context.Background(), e, []string{"b", "a"}, func(tx *scoped.Tx) (struct{}, error) {
			a, err := scoped.TxValue[int](tx, "a")
			if err == nil {
				seen <- *a
			}
			return struct{}{}, err
		})
	})
	select {
	case n := <-seen:
		t.Fatalf("the Transact ran its handler (a = %d) while a write of its scope was in flight", n)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.release)
	wg.Wait()
	if n := <-seen; n != 1 {
		t.Fatalf("the Transact saw a = %d, want 1: the write before it", n)
	}
}

// rivalMany commits a change to the scope rival just before the first
// CompareAndSetMany, as another process would.
type rivalMany struct {
	*memstore.Store
	rival string
	once  sync.Once
}

func (r *rivalMany) CompareAndSetMany(ctx context.Context, changes []scoped.Change) ([]scoped.Record, bool, error) {
	r.once.Do(func() {
		cur, _ := r.Store.Load(ctx, r.rival)
		r.Store.CompareAndSet(ctx, r.rival, cur.Revision(), scoped.Write{Value: []byte{0x63}, Writer: scoped.NewToken()}) // 99
	})
	return r.Store.CompareAndSetMany(ctx, changes)
}

// A scope the handler only read is checked at commit: a change to it by
// another writer re-runs the handler (no write skew).
func TestTransactChecksWhatItRead(t *testing.T) {
	s := &rivalMany{Store: memstore.New(), rival: "limit"}
	e := scoped.New(s)
	var seen []int
	_, err := scoped.Transact(t.Context(), e, []string{"limit", "used"}, func(tx *scoped.Tx) (struct{}, error) {
		limit, err := scoped.TxValue[int](tx, "limit")
		if err != nil {
			return struct{}{}, err
		}
		used, err := scoped.TxValue[int](tx, "used")
		if err != nil {
			return struct{}{}, err
		}
		seen = append(seen, *limit)
		*used = *limit
		return struct{}{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[0 99]" || readInt(t, e, "used") != 99 {
		t.Fatalf("the handler saw the limits %v and wrote %d; want [0 99] and 99", seen, readInt(t, e, "used"))
	}
}

// A panic is raised again in the caller as a *PanicError, a Goexit ends
// the caller's goroutine; either way the scopes are released.
func TestTransactPanicAndGoexitRelease(t *testing.T) {
	e, _ := newEngine(t)
	func() {
		defer func() {
			var p *scoped.PanicError
			if r := recover(); r == nil || !errors.As(r.(error), &p) || p.Value != "boom" {
				t.Errorf("recovered %v, want a *PanicError of boom", r)
			}
		}()
		scoped.Transact(t.Context(), e, []string{"a", "b"}, func(tx *scoped.Tx) (int, error) { panic("boom") })
	}()
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		scoped.Transact(t.Context(), e, []string{"a", "b"}, func(tx *scoped.Tx) (int, error) { runtime.Goexit(); return 0, nil })
	}()
	<-exited
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := move(ctx, e, "a", "b", 1); err != nil {
		t.Fatalf("a Transact after a panic and a Goexit: %v; their scopes were not released", err)
	}
}

// A Transact whose context ends while it waits for a scope owns nothing
// and fails as not applied.
func TestTransactContextEndsWhileWaiting(t *testing.T) {
	e, _ := newEngine(t)
	held, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		scoped.Run(context.Background(), e, "b", func(*scoped.Scope) (int, error) {
			close(held)
			<-release
			return 0, nil
		})
	})
	<-held
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := move(ctx, e, "a", "b", 1)
	if !errors.Is(err, scoped.ErrNotApplied) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Transact whose context ended while waiting: %v; want not applied, deadline exceeded", err)
	}
	close(release)
	wg.Wait()
	if err := move(t.Context(), e, "a", "b", 1); err != nil {
		t.Fatalf("a Transact afterwards: %v", err)
	}
	if a, b := readInt(t, e, "a"), readInt(t, e, "b"); a != -1 || b != 1 {
		t.Fatalf("a = %d, b = %d; want -1, 1: the first transfer must not have happened", a, b)
	}
}

// Names: none, twice or invalid are refused; a scope not named, or used
// both ways, is an error from the Tx.
func TestTransactNames(t *testing.T) {
	e, _ := newEngine(t)
	for _, names := range [][]string{nil, {"a", "a"}, {"a", ""}} {
		_, err := scoped.Transact(t.Context(), e, names, func(*scoped.Tx) (int, error) { return 0, nil })
		if !errors.Is(err, scoped.ErrInvalidName) {
			t.Errorf("Transact over %q = %v, want ErrInvalidName", names, err)
		}
	}
	_, err := scoped.Transact(t.Context(), e, []string{"a"}, func(tx *scoped.Tx) (int, error) {
		if _, err := tx.Scope("b"); !errors.Is(err, scoped.ErrNotInTransaction) {
			t.Errorf("tx.Scope of a scope not named = %v", err)
		}
		if _, err := scoped.TxValue[int](tx, "a"); err != nil {
			return 0, err
		}
		if _, err := tx.Scope("a"); err == nil {
			t.Error("tx.Scope of a scope already used as a typed value succeeded")
		}
		if _, err := scoped.TxValue[string](tx, "a"); err == nil {
			t.Error("TxValue of another type succeeded")
		}
		return 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A lost reply of a Transact's write is resolved by sending it again: it
// is found applied, once.
func TestTransactLostReply(t *testing.T) {
	e, s := newEngine(t)
	if err := move(t.Context(), e, "a", "b", 1); err != nil {
		t.Fatal(err)
	}
	failOnce(s, "CompareAndSetMany", false, errConnReset)
	if err := move(t.Context(), e, "a", "b", 1); err != nil {
		t.Fatalf("Transact whose reply was lost: %v", err)
	}
	if a, b := readInt(t, e, "a"), readInt(t, e, "b"); a != -2 || b != 2 {
		t.Fatalf("a = %d, b = %d; want -2, 2", a, b)
	}
}

// The fields form and expiry: opts set the expiry of the scopes the call
// changes, and of no other.
func TestTransactFieldsAndExpiry(t *testing.T) {
	e, s, c := newExpiringEngine(t)
	if _, err := scoped.Update(t.Context(), e, "seen", increment); err != nil {
		t.Fatal(err)
	}
	_, err := scoped.Transact(t.Context(), e, []string{"seen", "cart"}, func(tx *scoped.Tx) (struct{}, error) {
		if _, err := scoped.TxValue[int](tx, "seen"); err != nil {
			return struct{}{}, err
		}
		cart, err := tx.Scope("cart")
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, cart.Set("apples", 3)
	}, scoped.ExpireAfter(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rec := loadRecord(t, s, "cart"); !rec.ExpiresAt.Equal(c.In(time.Hour)) {
		t.Fatalf("the changed scope expires at %v, want in an hour", rec.ExpiresAt)
	}
	if rec := loadRecord(t, s, "seen"); !rec.ExpiresAt.IsZero() || rec.Version != 1 {
		t.Fatalf("the scope only read is %+v; want version 1 without expiry", rec)
	}
}

// Transacts that queue while one commits are committed together, by one
// write, each with its own result in arrival order; one whose handler
// fails, panics or calls Goexit leaves the others' changes.
func TestTransactGroupCommit(t *testing.T) {
	e, s := newEngine(t)
	g := holdCalls(s, "CompareAndSetMany")
	var wg sync.WaitGroup
	start(t, e, &wg, func() { move(context.Background(), e, "a", "b", 1) })
	waitFor(t, "the first write", func() bool { return g.writes.Load() == 1 })
	const queued = 8
	results := make([]int, queued)
	errs := make([]error, queued)
	for i := range queued {
		start(t, e, &wg, func() {
			defer func() {
				if p := recover(); p != nil && i != 4 {
					t.Errorf("call %d panicked: %v", i, p)
				}
			}()
			names := []string{"a", "b"}
			if i%2 == 1 {
				names = []string{"b", "c"} // c is idle: the batch takes it
			}
			results[i], errs[i] = scoped.Transact(context.Background(), e, names, func(tx *scoped.Tx) (int, error) {
				b, err := scoped.TxValue[int](tx, "b")
				if err != nil {
					return 0, err
				}
				switch i {
				case 2:
					return 0, errors.New("refused")
				case 4:
					panic("boom")
				case 6:
					runtime.Goexit()
				}
				*b += 10
				return *b, nil
			})
		})
	}
	close(g.release)
	wg.Wait()
	if w := e.Stats().Writes; w != 2 {
		t.Fatalf("%d Transacts took %d writes; want 2 (the first, then one batch)", queued+1, w)
	}
	want := []int{11, 21, 0, 31, 0, 41, 0, 51}
	for i := range queued {
		if i == 2 || i == 4 || i == 6 {
			continue
		}
		if errs[i] != nil || results[i] != want[i] {
			t.Fatalf("call %d = %d, %v; want %d: each sees the calls before it", i, results[i], errs[i], want[i])
		}
	}
	if errs[2] == nil || errs[2].Error() != "refused" {
		t.Fatalf("the failing call returned %v", errs[2])
	}
	if b := readInt(t, e, "b"); b != 51 {
		t.Fatalf("b = %d, want 51", b)
	}
}

// A call on one scope queued behind a batch of Transacts is not starved by
// a stream of Transacts that keep arriving.
func TestTransactBatchesYieldToCalls(t *testing.T) {
	e, _ := newEngine(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for ctx.Err() == nil {
				move(ctx, e, "a", "b", 1)
			}
		})
	}
	deadline, stop := context.WithTimeout(t.Context(), 10*time.Second)
	defer stop()
	for range 20 {
		if _, err := scoped.Update(deadline, e, "a", increment); err != nil {
			t.Fatalf("an Update behind a stream of Transacts: %v", err)
		}
	}
	cancel()
	wg.Wait()
}

// In one batch, one Transact may take a scope as fields and the next as a
// typed value.
func TestTransactBatchMixesForms(t *testing.T) {
	e, s := newEngine(t)
	g := holdCalls(s, "CompareAndSetMany")
	var wg sync.WaitGroup
	start(t, e, &wg, func() { move(context.Background(), e, "a", "b", 1) })
	waitFor(t, "the first write", func() bool { return g.writes.Load() == 1 })
	var fieldsErr, typedErr error
	start(t, e, &wg, func() {
		_, fieldsErr = scoped.Transact(context.Background(), e, []string{"a", "c"}, func(tx *scoped.Tx) (int, error) {
			c, err := tx.Scope("c")
			if err != nil {
				return 0, err
			}
			return 0, c.Set("seen", true)
		})
	})
	start(t, e, &wg, func() {
		_, typedErr = scoped.Transact(context.Background(), e, []string{"a", "c"}, func(tx *scoped.Tx) (int, error) {
			if _, err := scoped.TxValue[map[string]bool](tx, "c"); err != nil {
				return 0, err
			}
			return 0, nil
		})
	})
	close(g.release)
	wg.Wait()
	if fieldsErr != nil || typedErr != nil {
		t.Fatalf("Transacts in one batch taking one scope as fields, then as a typed value: %v, %v", fieldsErr, typedErr)
	}
}
