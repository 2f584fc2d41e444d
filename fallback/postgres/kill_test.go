package postgres_test

import (
	"context"
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
	killDuring(t, func(ctx context.Context, e *scoped.Engine, call int64) error {
		_, err := scoped.Update(ctx, e, "ledger", func(l *ledger.Ledger) (int, error) {
			l.N++
			l.Calls = append(l.Calls, call)
			return l.N, nil
		})
		return err
	}, nil)
}

// The same, each call a transaction over two scopes (CompareAndSetMany):
// the ledger and a count of its increments, which must agree whatever
// the kills cut short.
func TestConnectionKillMany(t *testing.T) {
	names := []string{"ledger", "mirror"}
	killDuring(t, func(ctx context.Context, e *scoped.Engine, call int64) error {
		_, err := scoped.Transact(ctx, e, names, func(tx *scoped.Tx) (struct{}, error) {
			l, err := scoped.TxValue[ledger.Ledger](tx, "ledger")
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
	}, func(t *testing.T, s scoped.Store, l ledger.Ledger) {
		n, err := scoped.Read[int](t.Context(), scoped.New(s), "mirror")
		if err != nil {
			t.Fatal(err)
		}
		if n != l.N {
			t.Errorf("the mirror counts %d increments, the ledger %d", n, l.N)
		}
	})
}

// killDuring runs calls of call, from workers on two engines, each with
// its own id, while it terminates the store's backends, and checks the
// ledger against the calls' outcomes, and then with check, if not nil.
func killDuring(t *testing.T, call func(ctx context.Context, e *scoped.Engine, call int64) error, check func(*testing.T, scoped.Store, ledger.Ledger)) {
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
					id := nextCall.Add(1)
					err := call(t.Context(), e, id)
					mu.Lock()
					if err != nil && !fromDriver(err) {
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
	if check != nil {
		check(t, s, l)
	}
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
