package scoped_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
)

// rivalStore lets another writer commit just before each of the engine's
// compare-and-sets, so that every attempt conflicts.
type rivalStore struct{ *memstore.Store }

func (r rivalStore) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	cur, _ := r.Store.Load(ctx, name)
	r.Store.CompareAndSet(ctx, name, cur.Revision(), scoped.Write{Value: []byte{0x01}, Writer: scoped.NewToken()})
	return r.Store.CompareAndSet(ctx, name, expected, next)
}

func TestTooManyConflicts(t *testing.T) {
	e := scoped.New(rivalStore{memstore.New()}, scoped.WithMaxAttempts(5), scoped.WithBackoff(0, 0))
	runs := 0
	_, err := scoped.Update(t.Context(), e, "n", func(n *int) (int, error) { runs++; *n += 100; return *n, nil })
	var conflict *scoped.ConflictError
	if !errors.Is(err, scoped.ErrTooManyConflicts) || !errors.As(err, &conflict) || conflict.Attempts != 5 || conflict.Scope != "n" {
		t.Fatalf("Update against a rival that always wins: %v; want a ConflictError after 5 attempts", err)
	}
	if runs != 5 {
		t.Fatalf("handler ran %d times, want 5", runs)
	}
}

// failOnce makes the first call of method fail with err; before says whether
// that happens before the store applies it or after (a lost reply).
func failOnce(s *memstore.Store, method string, before bool, err error) {
	var done atomic.Bool
	hook := func(_ context.Context, m, _ string) error {
		if m == method && done.CompareAndSwap(false, true) {
			return err
		}
		return nil
	}
	if before {
		s.Before = hook
	} else {
		s.After = hook
	}
}

var errConnReset = errors.New("connection reset by peer")

func TestLostReplyOfACommit(t *testing.T) {
	e, s := newEngine(t)
	ctx := t.Context()
	scoped.Update(ctx, e, "n", increment)
	failOnce(s, "CompareAndSet", false, errConnReset) // applied, reply lost
	if n, err := scoped.Update(ctx, e, "n", increment); err != nil || n != 2 {
		t.Fatalf("Update whose reply was lost = %d, %v; want 2, nil (the commit is found by its token)", n, err)
	}
	if rec, _ := s.Load(ctx, "n"); rec.Version != 2 {
		t.Fatalf("store at version %d, want 2: the increment was doubled or lost", rec.Version)
	}
}

func TestFailedWriteIsRetried(t *testing.T) {
	e, s := newEngine(t)
	ctx := t.Context()
	scoped.Update(ctx, e, "n", increment)
	failOnce(s, "CompareAndSet", true, errConnReset) // not applied
	if n, err := scoped.Update(ctx, e, "n", increment); err != nil || n != 2 {
		t.Fatalf("Update whose write failed = %d, %v; want 2, nil after a retry", n, err)
	}
	if rec, _ := s.Load(ctx, "n"); rec.Version != 2 {
		t.Fatalf("store at version %d, want 2", rec.Version)
	}
}

func TestStoreDownMidWrite(t *testing.T) {
	e, s := newEngine(t)
	ctx := t.Context()
	scoped.Update(ctx, e, "n", increment)
	s.Before = func(context.Context, string, string) error { return errConnReset }
	_, err := scoped.Update(ctx, e, "n", increment)
	var unknown *scoped.CommitUnknownError
	if !errors.As(err, &unknown) || !errors.Is(unknown.Cause, errConnReset) || unknown.Scope != "n" {
		t.Fatalf("Update with the store gone: %v; want a CommitUnknownError with the cause", err)
	}
	if strings.Count(err.Error(), errConnReset.Error()) != 1 {
		t.Fatalf("message %q: want the cause said once", err)
	}
	s.Before = nil
	if rec, _ := s.Load(ctx, "n"); rec.Version != 1 {
		t.Fatalf("store at version %d, want 1", rec.Version)
	}
}

// A load that fails is tried again up to the attempt limit (it changed
// nothing), and then reported with its cause.
func TestLoadError(t *testing.T) {
	e, s := newEngine(t, scoped.WithMaxAttempts(3), scoped.WithBackoff(time.Microsecond, time.Millisecond))
	var loads atomic.Int32
	s.Before = func(context.Context, string, string) error { loads.Add(1); return errConnReset }
	if _, err := scoped.Update(t.Context(), e, "n", increment); !errors.Is(err, errConnReset) || errors.Is(err, scoped.ErrCommitUnknown) {
		t.Fatalf("Update when Load fails: %v; want the cause, and no doubt about a commit", err)
	}
	if _, err := scoped.Read[int](t.Context(), e, "n"); !errors.Is(err, errConnReset) {
		t.Fatalf("Read when Load fails: %v", err)
	}
	if n := loads.Load(); n != 6 {
		t.Fatalf("%d loads; want 3 for each call", n)
	}
}

func TestCancelledContext(t *testing.T) {
	e, s := newEngine(t)
	calls := 0
	s.Before = func(context.Context, string, string) error { calls++; return nil }
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := scoped.Update(ctx, e, "n", increment); !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a cancelled context: %v", err)
	}
	if calls != 0 {
		t.Fatalf("a cancelled call reached the store %d times", calls)
	}
}

// gate holds every store call of one method until released, and counts
// the calls that reached it so that a test can order them.
type gate struct {
	release chan struct{}
	writes  atomic.Int32
}

// holdWrites holds every CompareAndSet of s.
func holdWrites(s *memstore.Store) *gate { return holdCalls(s, "CompareAndSet") }

// holdCalls holds every call of method on s.
func holdCalls(s *memstore.Store, method string) *gate {
	g := &gate{release: make(chan struct{})}
	s.Before = func(ctx context.Context, m, _ string) error {
		if m != method {
			return nil
		}
		g.writes.Add(1)
		select {
		case <-g.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g
}

// waitFor polls cond; it fails the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// start runs f in a goroutine and waits until the engine counted its call.
func start(t *testing.T, e *scoped.Engine, wg *sync.WaitGroup, f func()) {
	t.Helper()
	calls := e.Stats().Calls
	wg.Go(f)
	waitFor(t, "the call to arrive", func() bool { return e.Stats().Calls > calls })
}

// While one commit is in flight, the calls that arrive are committed
// together by one write, each with its own result.
func TestGroupCommit(t *testing.T) {
	e, s := newEngine(t)
	g := holdWrites(s)
	var wg sync.WaitGroup
	const queued = 10
	results := make([]int, queued+1)
	start(t, e, &wg, func() { results[0], _ = scoped.Update(context.Background(), e, "n", increment) })
	waitFor(t, "the first write", func() bool { return g.writes.Load() == 1 })
	for i := 1; i <= queued; i++ {
		start(t, e, &wg, func() { results[i], _ = scoped.Update(context.Background(), e, "n", increment) })
	}
	close(g.release)
	wg.Wait()
	if w := e.Stats().Writes; w != 2 {
		t.Fatalf("%d calls took %d writes; want 2 (the first, then one batch)", queued+1, w)
	}
	for i, r := range results {
		if r != i+1 {
			t.Fatalf("results %v: call %d got %d; want each call its own count, in arrival order", results, i, r)
		}
	}
}

// A handler that fails or panics in a batch leaves no trace; the others
// commit.
func TestBatchWithFailingHandlers(t *testing.T) {
	e, s := newEngine(t)
	g := holdWrites(s)
	var wg sync.WaitGroup
	errNo := errors.New("no")
	var errResult error
	var panicked any
	var last int
	start(t, e, &wg, func() { scoped.Update(context.Background(), e, "n", increment) })
	waitFor(t, "the first write", func() bool { return g.writes.Load() == 1 })
	start(t, e, &wg, func() {
		defer func() {
			if p, ok := recover().(*scoped.PanicError); ok {
				panicked = p.Value
			}
		}()
		scoped.Update(context.Background(), e, "n", func(n *int) (int, error) { *n += 1000; panic("bad handler") })
	})
	start(t, e, &wg, func() {
		_, errResult = scoped.Update(context.Background(), e, "n", func(n *int) (int, error) { *n += 100; return 0, errNo })
	})
	start(t, e, &wg, func() { last, _ = scoped.Update(context.Background(), e, "n", increment) })
	close(g.release)
	wg.Wait()
	if panicked != "bad handler" || errResult != errNo || last != 2 {
		t.Fatalf("panic %v, error %v, last result %d; want the panic and the error in their own callers, and 2", panicked, errResult, last)
	}
	if n, _ := scoped.Read[int](t.Context(), e, "n"); n != 2 {
		t.Fatalf("n = %d, want 2", n)
	}
}

// A call whose context ends while it waits behind a commit in flight
// returns at once, and its change is never written.
func TestCancelWhileQueued(t *testing.T) {
	e, s := newEngine(t)
	g := holdWrites(s)
	var wg sync.WaitGroup
	start(t, e, &wg, func() { scoped.Update(context.Background(), e, "n", increment) })
	waitFor(t, "the first write", func() bool { return g.writes.Load() == 1 })
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	start(t, e, &wg, func() {
		_, err := scoped.Update(ctx, e, "n", func(n *int) (int, error) { *n += 100; return *n, nil })
		errc <- err
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || errors.Is(err, scoped.ErrCommitUnknown) {
		t.Fatalf("cancelled queued call: %v; want context.Canceled and a certain outcome", err)
	}
	close(g.release)
	wg.Wait()
	if n, _ := scoped.Read[int](t.Context(), e, "n"); n != 1 {
		t.Fatalf("n = %d, want 1", n)
	}
}

// When one caller's context ends while its batch's write is in flight, that
// caller returns at once with an unknown outcome, which does not match the
// context's error; the other calls of the batch learn theirs: here the write
// was applied, and its reply lost, so they succeed.
func TestCancelledMidWrite(t *testing.T) {
	e, s := newEngine(t)
	g := holdWrites(s)
	var wg sync.WaitGroup
	start(t, e, &wg, func() { scoped.Update(context.Background(), e, "n", increment) })
	waitFor(t, "the first write", func() bool { return g.writes.Load() == 1 })

	firstCtx, cancelFirst := context.WithCancel(t.Context())
	firstReturned := make(chan struct{})
	var firstErr error
	var follower int
	var followerErr error
	start(t, e, &wg, func() {
		defer close(firstReturned)
		_, firstErr = scoped.Update(firstCtx, e, "n", increment)
	})
	start(t, e, &wg, func() { follower, followerErr = scoped.Update(context.Background(), e, "n", increment) })

	// The second batch's write is applied, but its reply is held until the
	// first caller has given up, and then lost.
	var writes atomic.Int32
	s.After = func(ctx context.Context, m, _ string) error {
		if m == "CompareAndSet" && writes.Add(1) == 2 {
			<-firstReturned
			return errConnReset
		}
		return nil
	}
	close(g.release)
	waitFor(t, "the second write", func() bool { return g.writes.Load() == 2 })
	cancelFirst()
	wg.Wait()
	var unknown *scoped.CommitUnknownError
	if !errors.As(firstErr, &unknown) || !errors.Is(unknown.Cause, context.Canceled) {
		t.Fatalf("cancelled caller: %v; want a CommitUnknownError caused by context.Canceled", firstErr)
	}
	if errors.Is(firstErr, context.Canceled) || errors.Is(firstErr, scoped.ErrNotApplied) {
		t.Fatalf("cancelled caller: %v matches context.Canceled or ErrNotApplied: a caller retrying on those could apply its change twice", firstErr)
	}
	if followerErr != nil || follower != 3 {
		t.Fatalf("follower = %d, %v; want 3, nil (its commit was found by its token)", follower, followerErr)
	}
	if n, _ := scoped.Read[int](t.Context(), e, "n"); n != 3 {
		t.Fatalf("n = %d, want 3", n)
	}
}

// resendStore applies every write twice, as a client that re-sends a command
// whose reply it lost would: the second copy conflicts with the first.
type resendStore struct{ *memstore.Store }

func (r resendStore) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	r.Store.CompareAndSet(ctx, name, expected, next)
	return r.Store.CompareAndSet(ctx, name, expected, next)
}

func TestResentWriteIsNotDoubled(t *testing.T) {
	s := memstore.New()
	e := scoped.New(resendStore{s})
	for want := 1; want <= 3; want++ {
		if n, err := scoped.Update(t.Context(), e, "n", increment); err != nil || n != want {
			t.Fatalf("Update = %d, %v; want %d", n, err, want)
		}
	}
	if rec, _ := s.Load(t.Context(), "n"); rec.Version != 3 {
		t.Fatalf("store at version %d after 3 increments", rec.Version)
	}
}

// A writer that commits without pause must not starve another engine's
// calls on the same scope: retries must not run on records that aged during
// the backoff.
func TestNoStarvationBehindABusyWriter(t *testing.T) {
	s := memstore.New()
	s.Before = func(context.Context, string, string) error { // a round trip
		time.Sleep(50 * time.Microsecond)
		return nil
	}
	busy, quiet := scoped.New(s), scoped.New(s)
	var stop atomic.Bool
	var busyCommits atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			if _, err := scoped.Update(context.Background(), busy, "n", increment); err == nil {
				busyCommits.Add(1)
			}
		}
	})
	waitFor(t, "the busy writer", func() bool { return busyCommits.Load() > 100 })
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		_, err = scoped.Update(t.Context(), quiet, "n", increment)
	}
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("a call behind a busy writer: %v", err)
	}
	if n, _ := scoped.Read[int](t.Context(), quiet, "n"); n != int(busyCommits.Load())+20 {
		t.Fatalf("n = %d, want %d", n, busyCommits.Load()+20)
	}
}

// zombieStore loses the reply of one write and applies that write later,
// just before the next write arrives, as a server does with a statement that
// outlived its client's patience (waiting on a lock, say).
type zombieStore struct {
	*memstore.Store
	mu      sync.Mutex
	armed   bool
	pending func()
}

func (z *zombieStore) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.pending != nil {
		z.pending()
		z.pending = nil
	}
	if z.armed {
		z.armed = false
		z.pending = func() { z.Store.CompareAndSet(context.Background(), name, expected, next) }
		return scoped.Record{}, false, errConnReset
	}
	return z.Store.CompareAndSet(ctx, name, expected, next)
}

// A write whose reply was lost and that lands later is not applied twice:
// the engine learns the outcome by sending the same write again, which
// fences the first copy.
func TestLateWriteIsNotDoubled(t *testing.T) {
	z := &zombieStore{Store: memstore.New()}
	e := scoped.New(z)
	ctx := t.Context()
	scoped.Update(ctx, e, "n", increment)
	z.armed = true
	if n, err := scoped.Update(ctx, e, "n", increment); err != nil || n != 2 {
		t.Fatalf("Update whose write landed late = %d, %v; want 2, nil", n, err)
	}
	if n, _ := scoped.Read[int](ctx, e, "n"); n != 2 {
		t.Fatalf("n = %d after 2 increments", n)
	}
}

// rivalWhenQueued makes the engine's next write conflict: before it, once e
// has counted calls calls, another writer stores 5.
func rivalWhenQueued(t *testing.T, e *scoped.Engine, s *memstore.Store, calls uint64) {
	var rival atomic.Bool
	rival.Store(true)
	s.Before = func(ctx context.Context, m, name string) error {
		if m == "CompareAndSet" && rival.CompareAndSwap(true, false) {
			waitFor(t, "the calls to queue", func() bool { return e.Stats().Calls == calls })
			cur, _ := s.Load(ctx, name)
			s.CompareAndSet(ctx, name, cur.Revision(), scoped.Write{Value: []byte{0x05}, Writer: scoped.NewToken()})
		}
		return nil
	}
}

// A call whose context ends while the committer runs its handler returns at
// once; the handler finishes later, and nothing of it is written or read
// back by the caller (run under -race).
func TestCancelWhileHandlerRuns(t *testing.T) {
	e, s := newEngine(t)
	ctx := t.Context()
	scoped.Update(ctx, e, "n", increment) // cached at version 1

	// The first write conflicts with a rival, after the second call queued.
	rivalWhenQueued(t, e, s, 3)
	var wg sync.WaitGroup
	first := make(chan int, 1)
	wg.Go(func() {
		n, _ := scoped.Update(context.Background(), e, "n", increment)
		first <- n
	})
	waitFor(t, "the first call", func() bool { return e.Stats().Calls == 2 })

	inHandler, release := make(chan struct{}), make(chan struct{})
	secondCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	wg.Go(func() {
		_, err := scoped.Update(secondCtx, e, "n", func(n *int) (int, error) {
			*n += 100
			close(inHandler)
			<-release
			return *n, nil
		})
		errc <- err
	})
	<-inHandler // the committer runs it, on the record the conflict returned
	cancel()
	// Release the handler with nothing ordering it after the cancelled call's
	// return, so that the race detector sees any access both make. The pause
	// only makes it likely that the call has left the batch by then.
	time.Sleep(20 * time.Millisecond)
	close(release)
	err := <-errc
	wg.Wait()
	want := 6 // the rival's 5, and the first call's increment
	switch {
	case errors.Is(err, context.Canceled):
	case err == nil: // the batch committed before the call could leave it
		want = 106
	default:
		t.Fatalf("call cancelled in its handler: %v", err)
	}
	if n, _ := scoped.Read[int](ctx, e, "n"); n != want {
		t.Fatalf("n = %d, want %d (second call: %v)", n, want, err)
	}
	if n := <-first; n != 6 {
		t.Fatalf("first call = %d, want 6 (on the rival's 5)", n)
	}
}

// A handler that calls runtime.Goexit (t.FailNow in a test, say) ends its
// goroutine; the scope must not stay locked for the calls after it.
func TestGoexitInHandler(t *testing.T) {
	e, _ := newEngine(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		scoped.Update(context.Background(), e, "n", func(n *int) (int, error) {
			*n = 99
			runtime.Goexit()
			return 0, nil
		})
	}()
	<-done
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if n, err := scoped.Update(ctx, e, "n", increment); err != nil || n != 1 {
		t.Fatalf("Update after a handler's Goexit = %d, %v; want 1", n, err)
	}
}
