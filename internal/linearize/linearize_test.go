package linearize_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/linearize"
	"github.com/scoped-go/scoped/internal/memstore"
)

// Three engines on one memstore: the history, with multi-scope calls, is
// linearizable.
func TestLinearizableMemstore(t *testing.T) {
	s := memstore.New()
	linearize.Check(t, linearize.Engines(t, s, s, s), linearize.DefaultWorkload(1))
}

// Three engines on one memstore, single-scope calls only: the history,
// checked scope by scope, is linearizable.
func TestLinearizableSingleScope(t *testing.T) {
	s := memstore.New()
	w := linearize.DefaultWorkload(6)
	w.Multi = 0
	linearize.Check(t, linearize.Engines(t, s, s, s), w)
}

// Three engines on one memstore whose calls sometimes lose their replies,
// before or after the data changed: calls end unknown, and the history,
// with them pending, is linearizable. A third of the default calls: in the
// one partition that multi-scope calls make, each pending call may go
// anywhere after its start, and 900 calls took up to 20s to check.
func TestLinearizableLostReplies(t *testing.T) {
	s := memstore.New()
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(2, 2))
	lose := func(ctx context.Context, method, name string) error {
		mu.Lock()
		defer mu.Unlock()
		if method != "Load" && rng.IntN(10) == 0 {
			return errors.New("reply lost")
		}
		return nil
	}
	s.Before, s.After = lose, lose
	w := linearize.DefaultWorkload(2)
	w.Ops = 100
	linearize.Check(t, linearize.Engines(t, s, s, s), w)
}

// staleStore serves, one Load in four, the first record it loaded of the
// scope: the planted stale read.
type staleStore struct {
	scoped.Store
	mu    sync.Mutex
	rng   *rand.Rand
	first map[string]scoped.Record
}

func (s *staleStore) Load(ctx context.Context, name string) (scoped.Record, error) {
	rec, err := s.Store.Load(ctx, name)
	if err != nil {
		return rec, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	first, ok := s.first[name]
	if !ok && rec.Exists() {
		s.first[name] = rec
	}
	if ok && s.rng.IntN(4) == 0 {
		return first, nil
	}
	return rec, nil
}

// lostStore reports one write in ten as done without doing it: the planted
// lost increment.
type lostStore struct {
	scoped.Store
	mu  sync.Mutex
	rng *rand.Rand
}

func (s *lostStore) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	s.mu.Lock()
	lose := s.rng.IntN(10) == 0
	s.mu.Unlock()
	if lose {
		return next.Record(expected.Version + 1), true, nil
	}
	return s.Store.CompareAndSet(ctx, name, expected, next)
}

// partialStore commits, one CompareAndSetMany in four that changes its
// first scope, that change alone, and then fails the call as if its reply
// were lost: the planted partial commit. The engine, resolving the call,
// finds its token in the first scope and reports it done.
type partialStore struct {
	scoped.Store
	mu  sync.Mutex
	rng *rand.Rand
}

func (s *partialStore) CompareAndSetMany(ctx context.Context, changes []scoped.Change) ([]scoped.Record, bool, error) {
	s.mu.Lock()
	partial := s.rng.IntN(4) == 0 && changes[0].Action != scoped.ActionCheck
	s.mu.Unlock()
	if !partial {
		return s.Store.CompareAndSetMany(ctx, changes)
	}
	_, ok, err := s.Store.CompareAndSetMany(ctx, changes[:1])
	if err != nil || !ok {
		return s.Store.CompareAndSetMany(ctx, changes) // nothing committed: the conflict, as it is
	}
	return nil, false, errors.New("connection reset")
}

// uncheckedStore accepts every CompareAndSetMany that changes nothing
// without checking its revisions: the planted multi-read served from
// stale records, the ones an engine cached before another engine wrote.
type uncheckedStore struct {
	scoped.Store
}

func (s uncheckedStore) CompareAndSetMany(ctx context.Context, changes []scoped.Change) ([]scoped.Record, bool, error) {
	for _, c := range changes {
		if c.Action != scoped.ActionCheck {
			return s.Store.CompareAndSetMany(ctx, changes)
		}
	}
	cur := make([]scoped.Record, len(changes))
	for i, c := range changes {
		rec, err := s.Store.Load(ctx, c.Name)
		if err != nil {
			return nil, false, err
		}
		cur[i] = rec
	}
	return cur, true, nil
}

// The check catches a store that serves stale reads, one that loses
// writes, one that commits part of a multi-scope call, and one that serves
// multi-scope reads unchecked: it reports the history not linearizable,
// and writes its visualization.
func TestPlantedViolations(t *testing.T) {
	multi := linearize.DefaultWorkload(5)
	multi.Multi = 50
	tests := []struct {
		name     string
		store    scoped.Store
		workload linearize.Workload
	}{
		{"stale read", &staleStore{Store: memstore.New(), rng: rand.New(rand.NewPCG(3, 3)), first: map[string]scoped.Record{}}, linearize.DefaultWorkload(3)},
		{"lost increment", &lostStore{Store: memstore.New(), rng: rand.New(rand.NewPCG(4, 4))}, linearize.DefaultWorkload(3)},
		{"partial commit", &partialStore{Store: memstore.New(), rng: rand.New(rand.NewPCG(5, 5))}, multi},
		{"unchecked multi-read", uncheckedStore{Store: memstore.New()}, multi},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := linearize.NewRecorder(linearize.MonotonicClock())
			linearize.Record(t.Context(), r, linearize.Engines(t, tt.store, tt.store, tt.store), tt.workload, 0)
			h, failed := r.History()
			if failed > 0 {
				t.Errorf("%d calls failed", failed)
			}
			dir := t.TempDir()
			err := linearize.Verify(h, 20*time.Second, dir)
			if !errors.Is(err, linearize.ErrNotLinearizable) {
				t.Fatalf("Verify = %v; want %v", err, linearize.ErrNotLinearizable)
			}
			path := filepath.Join(dir, "linearizability.html")
			if !strings.Contains(err.Error(), path) {
				t.Errorf("Verify = %v; want it to name %s", err, path)
			}
			if b, err := os.ReadFile(path); err != nil || len(b) == 0 {
				t.Errorf("visualization: %d bytes, %v", len(b), err)
			}
			t.Log(err)
		})
	}
}
