package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// outcomes counts how the calls on one scope ended.
type outcomes struct {
	ok      atomic.Int64 // committed
	unknown atomic.Int64 // ErrCommitUnknown: may or may not have been written
	failed  atomic.Int64 // any other error: not written
}

// incrementLoad starts workers goroutines that increment the scopes names,
// round robin, through engines, each call bounded by callTimeout, and
// passes every outcome to record with the index of its scope. The returned
// function stops them and waits until they have.
func incrementLoad(engines []*scoped.Engine, workers int, names []string, callTimeout time.Duration, record func(k int, err error)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		e := engines[w%len(engines)]
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				k := i % len(names)
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				_, err := scoped.Update(ctx, e, names[k], increment)
				cancel()
				record(k, err)
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// TestServerKilledMidWrite increments scopes from concurrent goroutines of
// two engines while the Redis server under them is killed with SIGKILL at random moments
// and restarted on the same port and data (an append-only file synced on
// every write, so that what was acknowledged survives). Each call has a 2 s
// deadline. At the end every scope's counter must be at least its
// successes (nothing acknowledged is lost) and at most its successes plus
// its unknown outcomes (no failed call was written, and no call was written
// twice), and the engine must have left no goroutine behind.
//
// go-redis's own retries re-send a script whose reply was lost (see
// TestLostReplyOfCompareAndSet), so the test runs with and without them.
// With them, the outages are short, so that few calls end unknown and a
// write applied twice exceeds the bound; without them, the server also hangs
// once (SIGSTOP) for longer than a call's deadline before it is killed, so
// that calls end with their context while queued and while their write is
// in flight.
func TestServerKilledMidWrite(t *testing.T) {
	for _, tt := range []struct {
		name       string
		scopes     int
		maxRetries int  // go-redis Options.MaxRetries; 0 is its default, 3
		longOutage bool // one outage outlasts the calls' deadline
	}{
		{"OneScope", 1, 0, false},
		{"SeveralScopes", 4, 0, false},
		{"OneScopeNoClientRetries", 1, -1, true},
		{"SeveralScopesNoClientRetries", 4, -1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testServerKilled(t, tt.scopes, tt.maxRetries, tt.longOutage)
		})
	}
}

func testServerKilled(t *testing.T, scopes, maxRetries int, longOutage bool) {
	const (
		workers     = 8
		kills       = 5
		callTimeout = 2 * time.Second
	)
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	baseline := runtime.NumGoroutine()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: maxRetries})
	closeClient := sync.OnceFunc(func() { c.Close() })
	t.Cleanup(closeClient)
	// Two engines on one client stand for two processes: their commits
	// conflict with each other.
	s := redisstore.New(c)
	engines := []*scoped.Engine{scoped.New(s), scoped.New(s)}

	names := make([]string, scopes)
	counts := make([]outcomes, scopes)
	for i := range names {
		names[i] = fmt.Sprintf("counter-%d", i)
	}
	var samples errorSamples
	stopLoad := incrementLoad(engines, workers, names, callTimeout, func(k int, err error) {
		switch {
		case err == nil:
			counts[k].ok.Add(1)
		case errors.Is(err, scoped.ErrCommitUnknown):
			counts[k].unknown.Add(1)
			samples.add("unknown", err)
		default:
			counts[k].failed.Add(1)
			samples.add("failed", err)
		}
	})

	for i := range kills {
		time.Sleep(time.Duration(100+rand.IntN(500)) * time.Millisecond)
		if longOutage && i == kills/2 {
			// Hung, then dead: calls end with their context while queued
			// and while their write is in flight.
			if err := srv.Freeze(); err != nil {
				t.Error(err)
			}
			time.Sleep(callTimeout + 500*time.Millisecond)
		}
		if err := srv.Kill(); err != nil {
			t.Error(err)
		}
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		if err := srv.Restart(context.Background()); err != nil {
			stopLoad()
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // calls on the last server
	stopLoad()

	if stacks := awaitEngineGone(10 * time.Second); stacks != nil {
		t.Errorf("goroutines of the engine left behind:\n%s", stacks)
	}
	// A new client reads the result: the pool of c may still hold
	// connections to a server that was killed.
	reader := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	closeReader := sync.OnceFunc(func() { reader.Close() })
	t.Cleanup(closeReader)
	fresh := scoped.New(redisstore.New(reader))
	for k, name := range names {
		final, err := scoped.Read[int](t.Context(), fresh, name)
		if err != nil {
			t.Fatal(err)
		}
		ok, unknown, failed := counts[k].ok.Load(), counts[k].unknown.Load(), counts[k].failed.Load()
		t.Logf("%s: %d successes, %d unknown, %d failed; final counter %d", name, ok, unknown, failed, final)
		if ok == 0 {
			t.Errorf("%s: no call succeeded", name)
		}
		if int64(final) < ok || int64(final) > ok+unknown {
			t.Errorf("%s: final counter %d, want between %d successes and %d successes + unknown outcomes",
				name, final, ok, ok+unknown)
		}
	}
	for i, e := range engines {
		st := e.Stats()
		t.Logf("engine %d: %d calls, %d writes, %d loads, %d conflicts", i, st.Calls, st.Writes, st.Loads, st.Conflicts)
	}
	samples.log(t)

	closeClient()
	closeReader()
	if n := awaitGoroutines(baseline, 5*time.Second); n > baseline {
		t.Errorf("%d goroutines after the test, %d before", n, baseline)
	}
}

// engineFrame matches a stack frame in the engine's package or in
// redisstore's (its pipeline flushers), not in the tests'.
var engineFrame = regexp.MustCompile(`(?m)^github\.com/scoped-go/scoped(/redisstore)?\.`)

// awaitEngineGone waits until no goroutine runs code of the engine or of
// the store, and returns the stacks of those still there after timeout.
func awaitEngineGone(timeout time.Duration) []byte {
	deadline := time.Now().Add(timeout)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left [][]byte
		for _, g := range bytes.Split(buf, []byte("\n\n")) {
			if engineFrame.Match(g) {
				left = append(left, g)
			}
		}
		if left == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return bytes.Join(left, []byte("\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitGoroutines waits until at most n goroutines run, and returns how
// many run when it gives up after timeout.
func awaitGoroutines(n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		m := runtime.NumGoroutine()
		if m <= n || time.Now().After(deadline) {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// errorSamples counts errors by kind and keeps the first few of each kind.
type errorSamples struct {
	mu    sync.Mutex
	count map[string]int
	first map[string][]string
}

func (s *errorSamples) add(kind string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count == nil {
		s.count, s.first = map[string]int{}, map[string][]string{}
	}
	s.count[kind]++
	if len(s.first[kind]) < 3 {
		s.first[kind] = append(s.first[kind], err.Error())
	}
}

func (s *errorSamples) log(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for kind, n := range s.count {
		t.Logf("%d %s, e.g. %q", n, kind, s.first[kind])
	}
}
