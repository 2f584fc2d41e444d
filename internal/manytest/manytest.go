// Package manytest holds the concurrency tests of CompareAndSetMany that
// the SQL backends share, each a function taking a store, or the stores at
// the isolation levels a backend wants covered:
//
//	func TestManyRacesCompareAndSet(t *testing.T) {
//		s, _, _ := newStore(t)
//		manytest.RacesCompareAndSet(t, s)
//	}
package manytest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/scoped-go/scoped"
)

// Level is a store whose sessions run at one isolation level.
type Level struct {
	Name string                          // the level, or "default" for the server's
	Open func(t *testing.T) scoped.Store // a store of the test's own at it
}

// set is an ActionSet change of name to value over expected.
func set(name string, expected scoped.Revision, value string) scoped.Change {
	return scoped.Change{Name: name, Expected: expected, Action: scoped.ActionSet,
		Write: scoped.Write{Value: []byte(value), Writer: scoped.NewToken()}}
}

// OppositeOrders has goroutines set two scopes together, half of them
// naming them in one order and half in the other: the store locks the rows in name order
// whatever the order of the changes, so no call deadlocks, and if the
// server still reports one, the call comes back not applied. Every write
// that succeeded, and no other, is counted in the versions.
func OppositeOrders(t *testing.T, s scoped.Store) {
	t.Helper()
	const workers, rounds = 8, 40
	for _, name := range []string{"a", "b"} {
		if _, ok, err := s.CompareAndSet(t.Context(), name, scoped.Revision{}, scoped.Write{Value: []byte("0"), Writer: scoped.NewToken()}); err != nil || !ok {
			t.Fatalf("creating %s: %v, %v", name, ok, err)
		}
	}
	var (
		mu              sync.Mutex
		applied, notRun int
		wg              sync.WaitGroup
	)
	for w := range workers {
		order := []string{"a", "b"}
		if w%2 == 1 {
			order = []string{"b", "a"}
		}
		wg.Go(func() {
			cur, _, err := s.CompareAndSetMany(t.Context(), []scoped.Change{{Name: order[0]}, {Name: order[1]}})
			for range rounds {
				if err != nil {
					t.Error(err)
					return
				}
				var ok bool
				cur, ok, err = s.CompareAndSetMany(t.Context(), []scoped.Change{
					set(order[0], cur[0].Revision(), fmt.Sprint(w)),
					set(order[1], cur[1].Revision(), fmt.Sprint(w)),
				})
				if errors.Is(err, scoped.ErrNotApplied) {
					mu.Lock()
					notRun++
					mu.Unlock()
					cur, _, err = s.CompareAndSetMany(t.Context(), []scoped.Change{{Name: order[0]}, {Name: order[1]}})
					continue
				}
				if ok {
					mu.Lock()
					applied++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	a, errA := s.Load(t.Context(), "a")
	b, errB := s.Load(t.Context(), "b")
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a.Version != uint64(1+applied) || b.Version != uint64(1+applied) || string(a.Value) != string(b.Value) {
		t.Fatalf("after %d writes of both: a at version %d holds %q, b at version %d holds %q", applied, a.Version, a.Value, b.Version, b.Value)
	}
	t.Logf("%d writes applied, %d not applied (deadlocks or serialization failures reported by the server)", applied, notRun)
}

// ConcurrentCreates has goroutines create the same two absent scopes at
// once, round after round, on a store at each of levels: exactly one call
// creates them, and every other is refused with the records it made, or
// comes back not applied.
func ConcurrentCreates(t *testing.T, levels []Level) {
	t.Helper()
	const workers, rounds = 6, 20
	for _, level := range levels {
		t.Run(level.Name, func(t *testing.T) {
			s := level.Open(t)
			for r := range rounds {
				x, y := fmt.Sprintf("x%d", r), fmt.Sprintf("y%d", r)
				var (
					mu     sync.Mutex
					winner []scoped.Record
					losers [][]scoped.Record
					wg     sync.WaitGroup
				)
				for w := range workers {
					wg.Go(func() {
						changes := []scoped.Change{set(x, scoped.Revision{}, fmt.Sprint(w)), set(y, scoped.Revision{}, fmt.Sprint(w))}
						if w%2 == 1 {
							changes[0], changes[1] = changes[1], changes[0]
						}
						cur, ok, err := s.CompareAndSetMany(t.Context(), changes)
						if errors.Is(err, scoped.ErrNotApplied) {
							return
						}
						if err != nil {
							t.Error(err)
							return
						}
						if w%2 == 1 {
							cur[0], cur[1] = cur[1], cur[0]
						}
						mu.Lock()
						defer mu.Unlock()
						if ok {
							if winner != nil {
								t.Errorf("round %d: two calls created the same scopes", r)
							}
							winner = cur
						} else {
							losers = append(losers, cur)
						}
					})
				}
				wg.Wait()
				if winner == nil {
					t.Fatalf("round %d: no call created the scopes", r)
				}
				for _, cur := range losers {
					for i := range cur {
						if cur[i].Revision() != winner[i].Revision() {
							t.Fatalf("round %d: a refused call returned %+v, the scopes hold %+v", r, cur, winner)
						}
					}
				}
			}
		})
	}
}

// WriteSkew runs two calls at once, on a store at each of levels, each
// checking that one scope has no record and creating the other,
// crosswise: both may not succeed, or the scopes would end in a state that
// no order of the two gives (write skew). Locking the rows that exist is
// not enough: each call must keep the other from creating the row it
// found absent until it commits.
func WriteSkew(t *testing.T, levels []Level) {
	t.Helper()
	const rounds = 40
	for _, level := range levels {
		t.Run(level.Name, func(t *testing.T) {
			s := level.Open(t)
			both := 0
			for r := range rounds {
				a, b := fmt.Sprintf("a%d", r), fmt.Sprintf("b%d", r)
				var (
					wg    sync.WaitGroup
					start = make(chan struct{})
					oks   [2]bool
				)
				for i, pair := range [][2]string{{a, b}, {b, a}} {
					wg.Go(func() {
						<-start
						_, ok, err := s.CompareAndSetMany(t.Context(), []scoped.Change{{Name: pair[0]}, set(pair[1], scoped.Revision{}, "x")})
						if err != nil && !errors.Is(err, scoped.ErrNotApplied) {
							t.Error(err)
						}
						oks[i] = ok
					})
				}
				close(start)
				wg.Wait()
				if oks[0] && oks[1] {
					both++
				}
			}
			if both > 0 {
				t.Fatalf("in %d rounds of %d, both calls succeeded", both, rounds)
			}
		})
	}
}

// RacesCompareAndSet races a CompareAndSetMany creating two scopes with a
// CompareAndSet creating one of them, round after round: exactly one of
// the two succeeds (or neither, not applied, and then nothing is written),
// and a refused CompareAndSetMany returns the record that the
// CompareAndSet made.
func RacesCompareAndSet(t *testing.T, s scoped.Store) {
	t.Helper()
	const rounds = 40
	for r := range rounds {
		x, y := fmt.Sprintf("x%d", r), fmt.Sprintf("y%d", r)
		var (
			wg            sync.WaitGroup
			start         = make(chan struct{})
			manyCur       []scoped.Record
			manyOK, oneOK bool
			manyErr       error
			one           scoped.Record
		)
		wg.Go(func() {
			<-start
			manyCur, manyOK, manyErr = s.CompareAndSetMany(t.Context(), []scoped.Change{set(x, scoped.Revision{}, "many"), set(y, scoped.Revision{}, "many")})
		})
		wg.Go(func() {
			<-start
			var err error
			one, oneOK, err = s.CompareAndSet(t.Context(), x, scoped.Revision{}, scoped.Write{Value: []byte("one"), Writer: scoped.NewToken()})
			if err != nil && !errors.Is(err, scoped.ErrNotApplied) {
				t.Error(err)
			}
		})
		close(start)
		wg.Wait()
		if manyErr != nil && !errors.Is(manyErr, scoped.ErrNotApplied) {
			t.Fatal(manyErr)
		}
		if manyOK && oneOK {
			t.Fatalf("round %d: both created %s", r, x)
		}
		if oneOK && manyErr == nil && (manyCur[0].Revision() != one.Revision() || manyCur[1].Exists()) {
			t.Fatalf("round %d: the refused CompareAndSetMany returned %+v; want %+v and no record", r, manyCur, one)
		}
	}
}
