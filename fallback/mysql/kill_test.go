package mysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/ledger"
	"github.com/scoped-go/scoped/internal/testenv"
)

// While calls increment one scope from two engines, a second connection
// kills the store's connections in the middle of their statements, until
// some calls have failed. Every call either succeeds, and its increment is
// in the ledger exactly once, or fails: with ErrCommitUnknown its increment
// may be there (once), with any other error it must not be.
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
// its own id, while it kills the store's connections, and checks the
// ledger against the calls' outcomes, and then with check, if not nil.
func killDuring(t *testing.T, call func(ctx context.Context, e *scoped.Engine, call int64) error, check func(*testing.T, scoped.Store, ledger.Ledger)) {
	admin := testenv.MySQL(t)
	logged := &countingLogger{}
	s, table := newStoreOn(t, quietPool(t, logged))
	const engines, workers, kills, maxRounds = 2, 4, 25, 100_000

	var (
		mu                          sync.Mutex
		succeeded, unknown, refused []int64
		errorsSeen                  = map[string]int{}
		unwrapped                   []error // errors that do not wrap the driver's
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
						errorsSeen[fmt.Sprintf("engine %d: unknown", i)]++
					default:
						refused = append(refused, id)
						errorsSeen[fmt.Sprintf("engine %d: %v", i, err)]++
					}
					mu.Unlock()
				}
			})
		}
	}

	// Kill the connections running a statement on the test's table. The
	// ids come from the server, so formatting them into KILL is safe.
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
		rows, err := admin.QueryContext(t.Context(),
			"SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID()", "%"+table+"%")
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		for _, id := range ids {
			if _, err := admin.ExecContext(t.Context(), fmt.Sprintf("KILL %d", id)); err == nil {
				killed++ // an error is a connection that ended first
			}
		}
	}
	close(stop)
	wg.Wait()

	l, err := scoped.Read[ledger.Ledger](t.Context(), scoped.New(s), "ledger")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kills: %d calls succeeded, %d ended with ErrCommitUnknown, %d with another error; ledger at %d; the driver logged %d lines",
		killed, len(succeeded), len(unknown), len(refused), l.N, logged.n.Load())
	for msg, n := range errorsSeen {
		t.Logf("%4d × %s", n, msg)
	}

	for _, err := range unwrapped {
		t.Errorf("error without the driver's error in its chain: %v", err)
	}
	ledger.Check(t, l, succeeded, unknown, refused)
	if check != nil {
		check(t, s, l)
	}
}

// fromDriver reports whether err wraps an error of the driver or of
// database/sql's driver interface.
func fromDriver(err error) bool {
	if unknown, ok := errors.AsType[*scoped.CommitUnknownError](err); ok {
		err = unknown.Cause // which ErrCommitUnknown keeps out of the chain
	}
	var me *mysqldriver.MySQLError
	return errors.As(err, &me) || errors.Is(err, mysqldriver.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn)
}

// quietPool returns a pool on the test server whose driver logs into l
// instead of stderr: killed connections make it log every one.
func quietPool(t *testing.T, l *countingLogger) *sql.DB {
	t.Helper()
	cfg, err := mysqldriver.ParseDSN(testenv.MySQLDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = l
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	bound(db)
	t.Cleanup(func() { db.Close() })
	return db
}

// countingLogger counts the driver's log lines.
type countingLogger struct{ n atomic.Int64 }

func (l *countingLogger) Print(...any) { l.n.Add(1) }
