package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scoped-go/scoped"
)

// Kills is the connection-kill test of a SQL backend: while calls
// increment the scope "ledger" from 4 goroutines on each of two engines,
// Kill ends the store's connections in the middle of their statements,
// until there have been Kills kills and some call has failed. Every call
// either succeeds, and its increment is in the ledger exactly once, or
// fails: with ErrCommitUnknown its increment may be there (once), with any
// other error it must not be; and every error has the driver's in its
// chain.
type Kills struct {
	Store     scoped.Store // a store of the test's own, on a pool that Kill can find
	Kills     int          // kills to make, at least
	MaxRounds int          // calls of Kill after which the test fails

	// Kill ends the store's connections that are running a statement, and
	// returns how many it ended.
	Kill func(t *testing.T) int

	// FromDriver reports whether err (the cause, for an unknown outcome)
	// wraps an error of the driver.
	FromDriver func(err error) bool
}

// Run runs the test with each call one Update of the ledger.
func (k Kills) Run(t *testing.T) {
	t.Helper()
	k.during(t, func(ctx context.Context, e *scoped.Engine, call int64) error {
		_, err := scoped.Update(ctx, e, "ledger", func(l *Ledger) (int, error) {
			l.N++
			l.Calls = append(l.Calls, call)
			return l.N, nil
		})
		return err
	}, nil)
}

// RunMany runs the test with each call a transaction over two scopes
// (CompareAndSetMany): the ledger and a count of its increments, "mirror",
// which must agree whatever the kills cut short.
func (k Kills) RunMany(t *testing.T) {
	t.Helper()
	names := []string{"ledger", "mirror"}
	k.during(t, func(ctx context.Context, e *scoped.Engine, call int64) error {
		_, err := scoped.Transact(ctx, e, names, func(tx *scoped.Tx) (struct{}, error) {
			l, err := scoped.TxValue[Ledger](tx, "ledger")
			if err != nil {
				return struct{}{}, err
			}
			n, err := scoped.TxValue[int](tx, "mirror")
			if err != nil {
				return struct{}{}, err
			}
			l.N++
			l.Calls = append(l.Calls, call)
			*n++
			return struct{}{}, nil
		})
		return err
	}, func(t *testing.T, l Ledger) {
		n, err := scoped.Read[int](t.Context(), scoped.New(k.Store), "mirror")
		if err != nil {
			t.Fatal(err)
		}
		if n != l.N {
			t.Errorf("the mirror counts %d increments, the ledger %d", n, l.N)
		}
	})
}

// during runs calls of call, from workers on two engines, each with its
// own id, while it kills the store's connections, and checks the ledger
// against the calls' outcomes, and then with check, if not nil.
func (k Kills) during(t *testing.T, call func(ctx context.Context, e *scoped.Engine, call int64) error, check func(*testing.T, Ledger)) {
	t.Helper()
	const engines, workers = 2, 4
	var (
		mu                          sync.Mutex
		succeeded, unknown, refused []int64
		errorsSeen                  = map[string]int{}
		unwrapped                   []error // errors without the driver's in their chain
		nextCall                    atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range engines {
		e := scoped.New(k.Store)
		for range workers {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					id := nextCall.Add(1)
					err := call(t.Context(), e, id)
					mu.Lock()
					if err != nil && !k.fromDriver(err) {
						unwrapped = append(unwrapped, err)
					}
					switch {
					case err == nil:
						succeeded = append(succeeded, id)
					case errors.Is(err, scoped.ErrCommitUnknown):
						unknown = append(unknown, id)
						errorsSeen[fmt.Sprintf("engine %d: unknown: %v", i, err)]++
					default:
						refused = append(refused, id)
						errorsSeen[fmt.Sprintf("engine %d: %v", i, err)]++
					}
					mu.Unlock()
				}
			})
		}
	}

	failures := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(unknown) + len(refused)
	}
	killed, rounds := 0, 0
	for ; killed < k.Kills || failures() == 0; rounds++ {
		if rounds == k.MaxRounds {
			close(stop)
			wg.Wait()
			t.Fatalf("after %d rounds: %d kills, %d failed calls; want %d kills and a failed call", rounds, killed, failures(), k.Kills)
		}
		killed += k.Kill(t)
	}
	close(stop)
	wg.Wait()

	l, err := scoped.Read[Ledger](t.Context(), scoped.New(k.Store), "ledger")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills in %d rounds: %d calls succeeded, %d ended with ErrCommitUnknown, %d with another error; ledger at %d",
		killed, rounds, len(succeeded), len(unknown), len(refused), l.N)
	for msg, n := range errorsSeen {
		t.Logf("%4d × %s", n, msg)
	}

	for _, err := range unwrapped {
		t.Errorf("error without the driver's error in its chain: %v", err)
	}
	Check(t, l, succeeded, unknown, refused)
	if check != nil {
		check(t, l)
	}
}

// fromDriver reports whether err, or for an unknown outcome its cause
// (which ErrCommitUnknown keeps out of the chain), wraps the driver's.
func (k Kills) fromDriver(err error) bool {
	if unknown, ok := errors.AsType[*scoped.CommitUnknownError](err); ok {
		err = unknown.Cause
	}
	return k.FromDriver(err)
}
