package mysql_test

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped/internal/ledger"
	"github.com/scoped-go/scoped/internal/testenv"
)

// While calls increment one scope from two engines, a second connection
// kills the store's connections in the middle of their statements (see
// ledger.Kills).
func TestConnectionKill(t *testing.T) { newKills(t).Run(t) }

// The same, each call a transaction over two scopes (CompareAndSetMany).
func TestConnectionKillMany(t *testing.T) { newKills(t).RunMany(t) }

// newKills returns the connection-kill test on a table of its own, whose
// connections a second connection finds by the table in their statement
// and kills. It logs how many lines the driver logged.
func newKills(t *testing.T) ledger.Kills {
	admin := testenv.MySQL(t)
	logged := &countingLogger{}
	t.Cleanup(func() { t.Logf("the driver logged %d lines", logged.n.Load()) })
	s, table := newStoreOn(t, quietPool(t, logged))
	return ledger.Kills{Store: s, Kills: 25, MaxRounds: 100_000, FromDriver: fromDriver, Kill: func(t *testing.T) int {
		// The ids come from the server, so formatting them into KILL is safe.
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
		killed := 0
		for _, id := range ids {
			if _, err := admin.ExecContext(t.Context(), fmt.Sprintf("KILL %d", id)); err == nil {
				killed++ // an error is a connection that ended first
			}
		}
		return killed
	}}
}

// fromDriver reports whether err wraps an error of the driver or of
// database/sql's driver interface.
func fromDriver(err error) bool {
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
