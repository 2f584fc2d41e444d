package postgres_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
)

// ledger is a counter that also lists the calls that incremented it, so
// that a lost or doubled increment shows which call it was.
type ledger struct {
	N     int
	Calls []int64
}

// While calls increment one scope from two engines, a second pool
// terminates the store's backends (pg_terminate_backend, the store's pool
// only, found by its application_name) in the middle of their statements,
// until some calls have failed. Every call either succeeds, and its
// increment is in the ledger exactly once, or fails: with ErrCommitUnknown
// its increment may be there (once), with any other error it must not be.
func TestConnectionKill(t *testing.T) {
	admin := testenv.Postgres(t)
	pool := testenv.Postgres(t)
	s, _ := newStoreOn(t, pool)
	const engines, workers, kills, maxRounds = 2, 4, 100, 20_000

	var (
		mu                          sync.Mutex
		succeeded, unknown, refused []int64
		errorsSeen                  = map[string]int{}
		unwrapped                   []error // errors without pgx's error in their chain
		nextCall                    atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range engines {
		e := scoped.New(s)
		for range workers {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					call := nextCall.Add(1)
					_, err := scoped.Update(t.Context(), e, "ledger", func(l *ledger) (int, error) {
						l.N++
						l.Calls = append(l.Calls, call)
						return l.N, nil
					})
					mu.Lock()
					if err != nil && !fromDriver(err) {
						unwrapped = append(unwrapped, err)
					}
					switch {
					case err == nil:
						succeeded = append(succeeded, call)
					case errors.Is(err, scoped.ErrCommitUnknown):
						unknown = append(unknown, call)
						errorsSeen[fmt.Sprintf("engine %d: unknown: %v", i, err)]++
					default:
						refused = append(refused, call)
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
	for ; killed < kills || failures() == 0; rounds++ {
		if rounds == maxRounds {
			close(stop)
			wg.Wait()
			t.Fatalf("after %d rounds: %d kills, %d failed calls; want %d kills and a failed call", rounds, killed, failures(), kills)
		}
		var n int
		if err := admin.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
			FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`,
			testenv.ApplicationName(pool)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		killed += n
		time.Sleep(2 * time.Millisecond) // let calls succeed between the kills
	}
	close(stop)
	wg.Wait()

	l, err := scoped.Read[ledger](t.Context(), scoped.New(s), "ledger")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills in %d rounds: %d calls succeeded, %d ended with ErrCommitUnknown, %d with another error; ledger at %d",
		killed, rounds, len(succeeded), len(unknown), len(refused), l.N)
	for msg, n := range errorsSeen {
		t.Logf("%4d × %s", n, msg)
	}

	for _, err := range unwrapped {
		t.Errorf("error without pgx's error in its chain: %v", err)
	}
	if l.N != len(l.Calls) {
		t.Fatalf("ledger counts %d increments but lists %d", l.N, len(l.Calls))
	}
	inLedger := map[int64]int{}
	for _, c := range l.Calls {
		inLedger[c]++
	}
	for c, n := range inLedger {
		if n != 1 {
			t.Errorf("call %d incremented %d times", c, n)
		}
		if !slices.Contains(succeeded, c) && !slices.Contains(unknown, c) {
			t.Errorf("call %d is in the ledger but neither succeeded nor ended unknown", c)
		}
	}
	for _, c := range succeeded {
		if inLedger[c] == 0 {
			t.Errorf("call %d succeeded but its increment is lost", c)
		}
	}
	for _, c := range refused {
		if inLedger[c] != 0 {
			t.Errorf("call %d failed with a definite error but its increment was written", c)
		}
	}
	landed := 0
	for _, c := range unknown {
		landed += inLedger[c]
	}
	if l.N != len(succeeded)+landed {
		t.Errorf("ledger at %d; want %d successes + %d unknown calls that landed", l.N, len(succeeded), landed)
	}
	t.Logf("%d of %d unknown calls had landed", landed, len(unknown))
}

// fromDriver reports whether err wraps an error of pgx: the server's, a
// failed connection, or one of pgconn's own, which say whether they are
// safe to retry.
func fromDriver(err error) bool {
	if unknown, ok := errors.AsType[*scoped.CommitUnknownError](err); ok {
		err = unknown.Cause // which ErrCommitUnknown keeps out of the chain
	}
	var (
		pe *pgconn.PgError
		ce *pgconn.ConnectError
		pc interface{ SafeToRetry() bool }
	)
	return errors.As(err, &pe) || errors.As(err, &ce) || errors.As(err, &pc)
}
