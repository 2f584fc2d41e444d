package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
)

// Calls is what the calls on one scope were told, by call id.
type Calls struct {
	Succeeded, Unknown, Refused []int64
}

// Load is the load of a fault test: goroutines that each increment, in
// turn, one hot scope shared by all and one scope of their own, each call
// appending its id to the scope's Ledger, until Stop.
type Load struct {
	names   []string
	stop    func()
	ok      atomic.Int64 // calls that succeeded
	late    atomic.Bool  // calls beginning now are late (MarkLate)
	mu      sync.Mutex
	calls   map[string]*Calls
	began   []int64 // late calls
	okLate  []int64 // late calls that succeeded
	counts  map[string]int
	first   map[string][]string // a few errors of each kind
	strange []error             // errors of no expected kind
}

// StartLoad starts workers goroutines incrementing scopes through e, each
// call with a deadline of callTimeout, and stops them at t's cleanup if
// Stop has not. A call may fail as not applied or with an unknown outcome;
// on the hot scope, if hotConflicts, also with too many conflicts. Any
// other error is unexpected (Report).
func StartLoad(t testing.TB, e *scoped.Engine, workers int, callTimeout time.Duration, hotConflicts bool) *Load {
	l := &Load{
		names:  []string{"hot"},
		calls:  map[string]*Calls{},
		counts: map[string]int{},
		first:  map[string][]string{},
	}
	for w := range workers {
		l.names = append(l.names, fmt.Sprintf("own-%d", w))
	}
	for _, name := range l.names {
		l.calls[name] = &Calls{}
	}
	var next atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				name := l.names[0]
				if i%2 == 1 {
					name = l.names[1+w]
				}
				call := next.Add(1)
				late := l.late.Load()
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				_, err := scoped.Update(ctx, e, name, func(v *Ledger) (int, error) {
					v.N++
					v.Calls = append(v.Calls, call)
					return v.N, nil
				})
				cancel()
				l.record(name, call, late, err, hotConflicts && name == l.names[0])
			}
		})
	}
	l.stop = sync.OnceFunc(func() {
		close(done)
		wg.Wait()
	})
	t.Cleanup(l.stop)
	return l
}

// record files the outcome of one call.
func (l *Load) record(name string, call int64, late bool, err error, conflictsExpected bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls[name]
	if late {
		l.began = append(l.began, call)
	}
	kind := ""
	switch {
	case err == nil:
		c.Succeeded = append(c.Succeeded, call)
		l.ok.Add(1)
		if late {
			l.okLate = append(l.okLate, call)
		}
		return
	case errors.Is(err, scoped.ErrCommitUnknown):
		c.Unknown, kind = append(c.Unknown, call), "unknown"
	case errors.Is(err, scoped.ErrNotApplied):
		c.Refused, kind = append(c.Refused, call), "not applied"
	case errors.Is(err, scoped.ErrTooManyConflicts) && conflictsExpected:
		c.Refused, kind = append(c.Refused, call), "too many conflicts"
	default:
		c.Refused = append(c.Refused, call)
		l.strange = append(l.strange, err)
		return
	}
	l.counts[kind]++
	if len(l.first[kind]) < 3 {
		l.first[kind] = append(l.first[kind], err.Error())
	}
}

// Names returns the scopes: the hot one first, then one per goroutine.
func (l *Load) Names() []string { return l.names }

// Succeeded returns how many calls have succeeded so far.
func (l *Load) Succeeded() int64 { return l.ok.Load() }

// Failed returns how many calls have failed so far.
func (l *Load) Failed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		n += len(c.Unknown) + len(c.Refused)
	}
	return n
}

// Count returns how many calls have failed with the kind of error kind:
// "unknown", "not applied" or "too many conflicts".
func (l *Load) Count(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts[kind]
}

// MarkLate makes the calls that begin from now on late.
func (l *Load) MarkLate() { l.late.Store(true) }

// Late returns the late calls, and those of them that succeeded.
func (l *Load) Late() (began, succeeded []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.began, l.okLate
}

// Calls returns what the calls on the scope name were told.
func (l *Load) Calls(name string) Calls {
	l.mu.Lock()
	defer l.mu.Unlock()
	return *l.calls[name]
}

// Stop stops the goroutines and waits for their calls to end.
func (l *Load) Stop() { l.stop() }

// Report fails t for each unexpected error, and logs how many calls failed
// with each expected kind, with a few of their errors.
func (l *Load) Report(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.strange {
		t.Errorf("a call failed neither as not applied nor as unknown: %v", err)
	}
	for kind, n := range l.counts {
		t.Logf("%d %s, e.g. %q", n, kind, l.first[kind])
	}
}

// CheckOn reads every scope's ledger through e, after Stop, and checks it
// against what its calls were told (Check), in a subtest per scope.
func (l *Load) CheckOn(t *testing.T, e *scoped.Engine) {
	t.Helper()
	for _, name := range l.names {
		v, err := scoped.Read[Ledger](t.Context(), e, name)
		if err != nil {
			t.Fatal(err)
		}
		c := l.Calls(name)
		t.Logf("%s: %d succeeded, %d unknown, %d refused; ledger at %d", name, len(c.Succeeded), len(c.Unknown), len(c.Refused), v.N)
		t.Run(name, func(t *testing.T) { Check(t, v, c.Succeeded, c.Unknown, c.Refused) })
	}
}
