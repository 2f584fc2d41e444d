package postgres_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/ledger"
	"github.com/scoped-go/scoped/internal/testenv"
)

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
					_, err := scoped.Update(t.Context(), e, "ledger", func(l *ledger.Ledger) (int, error) {
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

	l, err := scoped.Read[ledger.Ledger](t.Context(), scoped.New(s), "ledger")
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
	ledger.Check(t, l, succeeded, unknown, refused)
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
