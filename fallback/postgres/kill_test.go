package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scoped-go/scoped/internal/ledger"
	"github.com/scoped-go/scoped/internal/testenv"
)

// While calls increment one scope from two engines, a second pool
// terminates the store's backends (pg_terminate_backend, the store's pool
// only, found by its application_name) in the middle of their statements
// (see ledger.Kills).
func TestConnectionKill(t *testing.T) { newKills(t).Run(t) }

// The same, each call a transaction over two scopes (CompareAndSetMany).
func TestConnectionKillMany(t *testing.T) { newKills(t).RunMany(t) }

// newKills returns the connection-kill test on a table and a pool of its
// own, whose active backends a second pool terminates.
func newKills(t *testing.T) ledger.Kills {
	admin := testenv.Postgres(t)
	pool := testenv.Postgres(t)
	s, _ := newStoreOn(t, pool)
	return ledger.Kills{Store: s, Kills: 100, MaxRounds: 20_000, FromDriver: fromDriver, Kill: func(t *testing.T) int {
		var n int
		if err := admin.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
			FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`,
			testenv.ApplicationName(pool)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // let calls succeed between the kills
		return n
	}}
}

// fromDriver reports whether err wraps an error of pgx: the server's, a
// failed connection, or one of pgconn's own, which say whether they are
// safe to retry.
func fromDriver(err error) bool {
	var (
		pe *pgconn.PgError
		ce *pgconn.ConnectError
		pc interface{ SafeToRetry() bool }
	)
	return errors.As(err, &pe) || errors.As(err, &ce) || errors.As(err, &pc)
}
