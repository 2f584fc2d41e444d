package linearize

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/scoped-go/scoped"
)

// Workload is the calls that Record makes.
type Workload struct {
	Scopes  int    // scopes called, named ScopeName(0), ScopeName(1), ...
	Workers int    // concurrent workers, spread over the engines in turn
	Ops     int    // calls per scope on average: Scopes*Ops in all, each on a scope drawn at random
	Seed    uint64 // seed of the workers' random choices
	// Multi is the percentage of calls that are multi-scope, made with
	// scoped.Transact: half Transfers between two scopes, half ReadManys of
	// two or more. It needs Scopes >= 2. Such calls join their scopes into
	// one partition of the history, which then takes longer to check.
	Multi int
}

// DefaultWorkload returns a workload that checks in about a second: 3 scopes,
// 8 workers, 300 calls per scope, a fifth of all calls multi-scope.
func DefaultWorkload(seed uint64) Workload {
	return Workload{Scopes: 3, Workers: 8, Ops: 300, Seed: seed, Multi: 20}
}

// ProcessWorkload returns DefaultWorkload with 9 workers, 3 in each of 3
// processes.
func ProcessWorkload(seed uint64) Workload {
	w := DefaultWorkload(seed)
	w.Workers = 9
	return w
}

// ScopeName returns the name of the scope i of a workload. The names share
// the hash tag {linearize}, so that Redis Cluster and Ring stores accept
// multi-scope calls on them.
func ScopeName(i int) string { return fmt.Sprintf("{linearize}/%d", i) }

// callTimeout bounds each call: one that takes longer ends with its
// context's error, or an unknown outcome.
const callTimeout = 10 * time.Second

// counter is the value of a scope, as Update sees it.
type counter struct{ N int64 }

// Record makes w's calls on the engines, worker i on
// engines[i%len(engines)], and logs them in r, worker i as client
// firstClient+i. The calls are, at random: increments (Update), reads
// (Lookup or View), blind writes of a random value (Run setting the field
// without reading it) and deletes, and, for w.Multi percent of them,
// transfers and reads of several scopes (Transact).
func Record(ctx context.Context, r *Recorder, engines []*scoped.Engine, w Workload, firstClient int) {
	total := w.Scopes * w.Ops
	var wg sync.WaitGroup
	for i := range w.Workers {
		e := engines[i%len(engines)]
		n := total / w.Workers
		if i < total%w.Workers {
			n++
		}
		rng := rand.New(rand.NewPCG(w.Seed, uint64(firstClient+i)))
		wg.Go(func() {
			for range n {
				in := singleInput(rng, w.Scopes)
				if w.Multi > 0 && w.Scopes >= 2 && rng.IntN(100) < w.Multi {
					in = multiInput(rng, w.Scopes)
				}
				view := rng.IntN(2) == 0
				r.Do(firstClient+i, in, func() (Output, error) {
					ctx, cancel := context.WithTimeout(ctx, callTimeout)
					defer cancel()
					return call(ctx, e, in, view)
				})
			}
		})
	}
	wg.Wait()
}

// singleInput returns a call on one scope of scopes, at random.
func singleInput(rng *rand.Rand, scopes int) Input {
	in := Input{Scope: ScopeName(rng.IntN(scopes))}
	switch p := rng.IntN(100); {
	case p < 40:
		in.Kind = Increment
	case p < 75:
		in.Kind = Read
	case p < 92:
		in.Kind, in.Value = Write, 1+rng.Int64N(1<<40)
	default:
		in.Kind = Delete
	}
	return in
}

// multiInput returns a Transfer between two distinct scopes of scopes, or
// a ReadMany of two or more, at random.
func multiInput(rng *rand.Rand, scopes int) Input {
	perm := rng.Perm(scopes)
	in := Input{Kind: Transfer, Scopes: []string{ScopeName(perm[0]), ScopeName(perm[1])}}
	if rng.IntN(2) == 0 {
		in.Kind, in.Scopes = ReadMany, nil
		for _, i := range perm[:2+rng.IntN(scopes-1)] {
			in.Scopes = append(in.Scopes, ScopeName(i))
		}
	}
	return in
}

// call makes the call in on e; a read goes through View if view, else
// through Lookup.
func call(ctx context.Context, e *scoped.Engine, in Input, view bool) (Output, error) {
	switch in.Kind {
	case Increment:
		n, err := scoped.Update(ctx, e, in.Scope, func(c *counter) (int64, error) {
			c.N++
			return c.N, nil
		})
		return Output{Value: n}, err
	case Read:
		if view {
			return scoped.View(ctx, e, in.Scope, func(s *scoped.Scope) (Output, error) {
				n, err := scoped.Get[int64](s, "N")
				return Output{Value: n, Exists: s.Exists()}, err
			})
		}
		c, ok, err := scoped.Lookup[counter](ctx, e, in.Scope)
		return Output{Value: c.N, Exists: ok}, err
	case Write:
		_, err := scoped.Run(ctx, e, in.Scope, func(s *scoped.Scope) (struct{}, error) {
			return struct{}{}, s.Set("N", in.Value)
		})
		return Output{}, err
	case Delete:
		return Output{}, e.Delete(ctx, in.Scope)
	case Transfer:
		vals, err := scoped.Transact(ctx, e, in.Scopes, func(tx *scoped.Tx) ([]State, error) {
			from, err := scoped.TxValue[counter](tx, in.Scopes[0])
			if err != nil {
				return nil, err
			}
			to, err := scoped.TxValue[counter](tx, in.Scopes[1])
			if err != nil {
				return nil, err
			}
			from.N--
			to.N++
			return []State{{Value: from.N, Exists: true}, {Value: to.N, Exists: true}}, nil
		})
		return Output{Values: vals}, err
	case ReadMany:
		vals, err := scoped.Transact(ctx, e, in.Scopes, func(tx *scoped.Tx) ([]State, error) {
			vals := make([]State, len(in.Scopes))
			for i, name := range in.Scopes {
				s, err := tx.Scope(name)
				if err != nil {
					return nil, err
				}
				n, err := scoped.Get[int64](s, "N")
				if err != nil {
					return nil, err
				}
				vals[i] = State{Value: n, Exists: s.Exists()}
			}
			return vals, nil
		})
		return Output{Values: vals}, err
	}
	return Output{}, fmt.Errorf("linearize: unknown kind %v", in.Kind)
}

// Check runs w on the engines, which share one store whose scopes of w are
// absent, and fails t unless the history is linearizable.
func Check(t *testing.T, engines []*scoped.Engine, w Workload) {
	t.Helper()
	r := NewRecorder(MonotonicClock())
	Record(t.Context(), r, engines, w, 0)
	h, failed := r.History()
	Assert(t, h, failed)
}

// checkTimeout bounds the search for a linearization.
const checkTimeout = 20 * time.Second

// ErrNotLinearizable is the error of Verify for a history that no order of
// its calls explains.
var ErrNotLinearizable = errors.New("linearize: history is not linearizable")

// ErrUndecided is the error of Verify for a history whose check did not end
// within its time limit.
var ErrUndecided = errors.New("linearize: no answer within the time limit")

// Verify checks h. For a history that is not linearizable, or undecided, it
// writes porcupine's visualization of it to an HTML file in dir and returns
// an error naming it, matching ErrNotLinearizable or ErrUndecided.
func Verify(h History, timeout time.Duration, dir string) error {
	model := modelFor(h)
	res, info := porcupine.CheckOperationsVerbose(model, h.Operations(), timeout)
	var err error
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Illegal:
		err = ErrNotLinearizable
	default:
		err = ErrUndecided
	}
	path := filepath.Join(dir, "linearizability.html")
	if verr := porcupine.VisualizePath(model, info, path); verr != nil {
		return fmt.Errorf("%w (%d calls); its visualization: %v", err, len(h), verr)
	}
	return fmt.Errorf("%w (%d calls); see %s", err, len(h), path)
}

// Assert fails t unless h is linearizable, naming the file of its
// visualization, and reports whether it is. It fails t too when fewer than
// half of the calls succeeded (failed counts those left out of h): such a
// history proves little. The visualization goes to t.ArtifactDir(), kept
// when the test runs with -artifacts.
func Assert(t testing.TB, h History, failed int) bool {
	t.Helper()
	unknown, multi := 0, 0
	for _, op := range h {
		if op.Output.Unknown {
			unknown++
		}
		if len(op.Input.names()) > 1 {
			multi++
		}
	}
	t.Logf("%d calls: %d answered, %d unknown, %d failed; %d multi-scope calls recorded; up to %d in flight at once", len(h)+failed, len(h)-unknown, unknown, failed, multi, h.Concurrency())
	if failed > len(h) {
		t.Errorf("%d of %d calls failed", failed, len(h)+failed)
		return false
	}
	start := time.Now()
	err := Verify(h, checkTimeout, t.ArtifactDir())
	t.Logf("checked in %v", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Errorf("%v (kept by go test -artifacts)", err)
		return false
	}
	return true
}

// Engines returns an engine on each of stores (the same store several
// times, or stores sharing one backend), closed at t's cleanup.
func Engines(t testing.TB, stores ...scoped.Store) []*scoped.Engine {
	t.Helper()
	es := make([]*scoped.Engine, len(stores))
	for i, s := range stores {
		e := scoped.New(s)
		t.Cleanup(func() {
			if err := e.Close(context.Background()); err != nil {
				t.Errorf("closing engine %d: %v", i, err)
			}
		})
		es[i] = e
	}
	return es
}
